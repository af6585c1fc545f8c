"""Cultiveat example plugin ``hello``: the smallest plugin that touches every kind of hook."""
