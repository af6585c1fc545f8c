"""Building a fresh plugin manager: built-in defaults, explicit plugins, then entry points.

Each entry point is loaded on its own. One that fails to import or register is recorded
with its error and skipped, unless strict mode is on, in which case loading stops with a
``PluginError`` naming it. Blocked names are recorded and never imported.
"""

from __future__ import annotations

import importlib.metadata
import logging
import traceback
from collections.abc import Iterable, Sequence
from types import ModuleType
from typing import Any

import attrs
import pluggy

from cultiveat_core import hookspecs
from cultiveat_core.errors import PluginError
from cultiveat_core.markers import ENTRY_POINT_GROUP, PROJECT_NAME
from cultiveat_core.settings import Settings

log = logging.getLogger("cultiveat.plugins")

BUILTIN_PLUGINS = (
    "cultiveat_core.defaults.activity_types",
    "cultiveat_core.defaults.permissions",
    "cultiveat_core.defaults.actor",
    "cultiveat_core.defaults.dedupe",
    "cultiveat_core.defaults.tasks",
)


@attrs.define
class PluginRecord:
    """What ``cultiveat plugins`` and ``GET /api/plugins`` report for one plugin."""

    name: str
    status: str  # "builtin" | "loaded" | "failed" | "blocked"
    distribution: str | None = None
    version: str | None = None
    module: str | None = None
    hooks: list[str] = attrs.field(factory=list)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


def plugin_name(plugin: Any) -> str:
    name = getattr(plugin, "cultiveat_plugin_name", None) or getattr(plugin, "__name__", None)
    return str(name or type(plugin).__name__)


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class PluginLoader:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pm = pluggy.PluginManager(PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}

    @property
    def blocked(self) -> set[str]:
        return set(self.settings.plugins_block)

    def fail(self, record: PluginRecord, exc: BaseException) -> None:
        record.status = "failed"
        record.error = _error_text(exc)
        log.error("plugin %s failed to load: %s", record.name, record.error)
        log.debug("".join(traceback.format_exception(exc)))
        if self.settings.plugins_strict:
            raise PluginError(record.name, record.error) from exc

    def register(self, plugin: Any, record: PluginRecord) -> None:
        self.records[record.name] = record
        if record.name in self.blocked:
            record.status = "blocked"
            return
        try:
            specs = getattr(plugin, "hookspecs", None)
            if specs is not None:
                self.pm.add_hookspecs(specs)
            self.pm.register(plugin, name=record.name)
        except Exception as exc:
            self.fail(record, exc)
            return
        record.hooks = sorted(caller.name for caller in self.pm.get_hookcallers(plugin) or [])

    def load_builtins(self) -> None:
        for module_name in BUILTIN_PLUGINS:
            module = importlib.import_module(module_name)
            name = "core." + module_name.rsplit(".", 1)[1]
            self.register(module, PluginRecord(name=name, status="builtin", module=module_name,
                                               distribution="cultiveat-core"))

    def load_explicit(self, plugins: Iterable[Any]) -> None:
        for plugin in plugins:
            if isinstance(plugin, str):
                record = PluginRecord(name=plugin.rsplit(".", 1)[-1], status="loaded", module=plugin)
                if record.name in self.blocked:
                    self.records[record.name] = attrs.evolve(record, status="blocked")
                    continue
                try:
                    plugin = importlib.import_module(plugin)
                except Exception as exc:
                    self.records[record.name] = record
                    self.fail(record, exc)
                    continue
            name = plugin_name(plugin)
            module = plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__module__
            self.register(plugin, PluginRecord(name=name, status="loaded", module=module))

    def load_entrypoints(self) -> None:
        for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if ep.name in self.records and self.records[ep.name].status != "blocked":
                continue  # already registered explicitly (tests, embedders)
            dist = getattr(ep, "dist", None)
            record = PluginRecord(
                name=ep.name,
                status="loaded",
                distribution=dist.name if dist else None,
                version=dist.version if dist else None,
                module=ep.value,
            )
            if ep.name in self.blocked:
                record.status = "blocked"
                self.records[ep.name] = record
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                self.records[ep.name] = record
                self.fail(record, exc)
                continue
            self.register(plugin, record)

    def unregister_failed(self, name: str, exc: BaseException) -> None:
        """A registration hook of ``name`` raised: drop the plugin, keep the record."""
        record = self.records[name]
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin)
        self.fail(record, exc)


def get_plugin_manager(
    settings: Settings, plugins: Sequence[Any] = (), load_entrypoints: bool = True
) -> PluginLoader:
    """A fresh manager (never shared between CRMs) with built-ins, ``plugins`` and entry points."""
    loader = PluginLoader(settings)
    loader.load_builtins()
    loader.load_explicit(plugins)
    if load_entrypoints:
        loader.load_entrypoints()
    return loader
