"""Calling hook implementations one by one, so a failing plugin is known by name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pluggy


def implementations(pm: pluggy.PluginManager, hook_name: str) -> list[Any]:
    """Implementations in registration order, ``tryfirst`` ones first and ``trylast`` ones last.

    (pluggy itself calls the most recently registered first; events and registrations here
    follow the order plugins were loaded in: built-ins, explicit plugins, entry points.)
    """
    caller = getattr(pm.hook, hook_name, None)
    if caller is None:
        return []
    impls = [impl for impl in caller.get_hookimpls() if not impl.hookwrapper and not impl.wrapper]
    first = [impl for impl in impls if impl.tryfirst]
    last = [impl for impl in impls if impl.trylast]
    middle = [impl for impl in impls if not impl.tryfirst and not impl.trylast]
    return first + middle + last


def has_implementations(pm: pluggy.PluginManager, hook_name: str) -> bool:
    return bool(implementations(pm, hook_name))


def call_each(
    pm: pluggy.PluginManager, hook_name: str, **kwargs: Any
) -> Iterator[tuple[str, Any]]:
    """Yield ``(plugin_name, result)`` for each implementation; exceptions propagate."""
    for impl in implementations(pm, hook_name):
        args = {name: kwargs[name] for name in impl.argnames if name in kwargs}
        yield impl.plugin_name, impl.function(**args)
