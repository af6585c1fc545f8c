"""Everything plugins register, collected once at start-up into one registry.

Names are unique per kind; a duplicate is a ``DuplicateRegistration`` naming both plugins.
A plugin whose registration hook raises is dropped whole (its other contributions too) and
reported as failed; strict mode turns that into a start-up error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from cultiveat_core.domain import ActivityType, PeriodicTask, Permission, Task
from cultiveat_core.errors import DuplicateRegistration
from cultiveat_core.hookcalls import implementations

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM
    from cultiveat_core.plugins import PluginLoader

log = logging.getLogger("cultiveat.registry")


def _item_name(kind: str, item: Any) -> str | None:
    if kind == "settings":
        return str(getattr(item, "plugin", item.__name__))
    if kind == "ui":
        return f"{getattr(item, 'kind', 'ui')}:{item.name}"
    if kind in ("routes", "migrations"):
        return None  # Litestar reports conflicting paths itself
    return str(item.name)


REGISTRATION_HOOKS: dict[str, str] = {
    "register_settings": "settings",
    "register_migrations": "migrations",
    "register_routes": "routes",
    "register_activity_types": "activity_types",
    "register_permissions": "permissions",
    "register_commands": "commands",
    "register_tasks": "tasks",
    "register_periodic_tasks": "periodic_tasks",
    "register_ui": "ui",
    "register_contact_fields": "contact_fields",
    "register_kpis": "kpis",
}


@attrs.frozen
class Registered:
    item: Any
    plugin: str


@attrs.frozen
class Registry:
    """Read-only view of every registration; ``owner(kind, name)`` says which plugin gave it."""

    items: Mapping[str, tuple[Registered, ...]]
    _extra: dict[str, tuple[Registered, ...]] = attrs.field(factory=dict, repr=False)

    def _named(self, kind: str) -> dict[str, Any]:
        return {str(r.item.name): r.item for r in self.items.get(kind, ())}

    @property
    def activity_types(self) -> dict[str, ActivityType]:
        return self._named("activity_types")

    @property
    def permissions(self) -> dict[str, Permission]:
        return self._named("permissions")

    @property
    def tasks(self) -> dict[str, Task]:
        return self._named("tasks")

    @property
    def periodic_tasks(self) -> dict[str, PeriodicTask]:
        return self._named("periodic_tasks")

    @property
    def commands(self) -> list[Any]:
        return [r.item for r in self.items.get("commands", ())]

    @property
    def routes(self) -> list[Registered]:
        return list(self.items.get("routes", ()))

    @property
    def migrations(self) -> list[Registered]:
        return list(self.items.get("migrations", ()))

    @property
    def settings_classes(self) -> dict[str, type]:
        return {str(getattr(r.item, "plugin", "")): r.item for r in self.items.get("settings", ())}

    @property
    def contact_fields(self) -> dict[str, Any]:
        return self._named("contact_fields")

    @property
    def kpis(self) -> list[Any]:
        return sorted((r.item for r in self.items.get("kpis", ())), key=lambda k: (k.order, k.name))

    def ui(self, kind: str | None = None) -> list[Any]:
        found = [r.item for r in self.items.get("ui", ()) if kind is None or r.item.kind == kind]
        return sorted(found, key=lambda item: (item.order, item.name))

    def owner(self, kind: str, name: str) -> str | None:
        for r in self.items.get(kind, ()):
            if _item_name(kind, r.item) == name:
                return r.plugin
        return None

    def extra(
        self, crm: CRM, hook_name: str, name_of: Callable[[Any], str] | None = None
    ) -> list[Any]:
        """Collect a plugin-declared registration hook (e.g. ``register_channels``) once."""
        if hook_name not in self._extra:
            found = _collect_hook(crm, hook_name, name_of or (lambda i: i.name))
            self._extra[hook_name] = tuple(found)
        return [r.item for r in self._extra[hook_name]]


def _collect_hook(
    crm: CRM, hook_name: str, name_of: Callable[[Any], str | None]
) -> list[Registered]:
    seen: dict[str, str] = {}
    found: list[Registered] = []
    for impl in implementations(crm.pm, hook_name):
        args = {"crm": crm} if "crm" in impl.argnames else {}
        for item in impl.function(**args) or []:
            name = name_of(item)
            if name is not None:
                if name in seen:
                    raise DuplicateRegistration(hook_name, name, seen[name], impl.plugin_name)
                seen[name] = impl.plugin_name
            found.append(Registered(item, impl.plugin_name))
    return found


def build_registry(crm: CRM, loader: PluginLoader) -> Registry:
    """Call every registration hook per plugin, drop plugins that raise, check duplicates."""
    per_plugin: dict[str, dict[str, list[Any]]] = {}
    order: list[str] = []
    for hook_name, kind in REGISTRATION_HOOKS.items():
        for impl in implementations(crm.pm, hook_name):
            plugin = impl.plugin_name
            if plugin not in per_plugin:
                per_plugin[plugin] = {}
                order.append(plugin)
            if per_plugin[plugin] is None:
                continue
            try:
                args = {"crm": crm} if "crm" in impl.argnames else {}
                result = impl.function(**args)
                per_plugin[plugin].setdefault(kind, []).extend(result or [])
            except Exception as exc:
                loader.unregister_failed(plugin, exc)
                per_plugin[plugin] = None  # type: ignore[assignment]
    items: dict[str, list[Registered]] = {}
    owners: dict[tuple[str, str], str] = {}
    # Load order (built-ins first), so a duplicate names the plugin that came first first.
    loaded = {name: index for index, name in enumerate(loader.records)}
    order.sort(key=lambda name: loaded.get(name, len(loaded)))
    for plugin in order:
        contributions = per_plugin.get(plugin)
        if contributions is None:
            continue
        for kind, values in contributions.items():
            for item in values:
                name = _item_name(kind, item)
                if name is not None:
                    key = (kind, name)
                    if key in owners:
                        what = kind.rstrip("s").replace("_", " ")
                        raise DuplicateRegistration(what, name, owners[key], plugin)
                    owners[key] = plugin
                items.setdefault(kind, []).append(Registered(item, plugin))
    return Registry(items={k: tuple(v) for k, v in items.items()})
