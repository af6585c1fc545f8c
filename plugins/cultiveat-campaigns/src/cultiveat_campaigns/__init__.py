"""Cultiveat campaigns plugin (entry point ``campaigns``)."""
