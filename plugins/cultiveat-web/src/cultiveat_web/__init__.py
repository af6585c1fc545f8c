"""Cultiveat's browser UI: server-rendered pages over the core's services and ``register_ui``."""

__version__ = "0.1.0"
