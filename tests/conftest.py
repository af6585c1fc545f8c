"""Core tests use the fixtures of ``cultiveat_core.testing`` (loaded through its pytest11 entry point)."""
