"""The core's own behaviour, written as ordinary plugins (so every hook is exercised)."""
