"""Calling hook implementations one by one, so a failing plugin is known by name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pluggy


def implementations(pm: pluggy.PluginManager, hook_name: str) -> list[Any]:
    caller = getattr(pm.hook, hook_name, None)
    if caller is None:
        return []
    # pluggy returns them in call order reversed; keep registration order, tryfirst first.
    return list(reversed(caller.get_hookimpls()))


def has_implementations(pm: pluggy.PluginManager, hook_name: str) -> bool:
    return bool(implementations(pm, hook_name))


def call_each(
    pm: pluggy.PluginManager, hook_name: str, **kwargs: Any
) -> Iterator[tuple[str, Any]]:
    """Yield ``(plugin_name, result)`` for each implementation; exceptions propagate to the caller."""
    for impl in implementations(pm, hook_name):
        args = {name: kwargs[name] for name in impl.argnames if name in kwargs}
        yield impl.plugin_name, impl.function(**args)
