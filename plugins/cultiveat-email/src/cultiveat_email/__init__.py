"""Cultiveat email channel plugin (entry point ``email``)."""
