"""The ``cultiveat`` command (click). Plugins add sub-commands through ``register_commands``."""

from cultiveat_core.cli.main import build_cli, main

__all__ = ["build_cli", "main"]
