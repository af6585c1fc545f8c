"""Building a fresh plugin manager: built-in defaults, explicit plugins, then entry points.

Each entry point is loaded on its own. One that fails to import or register is recorded
with its error and skipped, unless strict mode is on, in which case loading stops with a
``PluginError`` naming it. Blocked names are recorded and never imported.
"""

from __future__ import annotations

import importlib
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
    "cultiveat_core.defaults.privacy",
    "cultiveat_core.defaults.contacts_domain",
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


def _core_version() -> str | None:
    try:
        return importlib.metadata.version("cultiveat-core")
    except importlib.metadata.PackageNotFoundError:
        return None


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    return sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)


class PluginLoader:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pm = pluggy.PluginManager(PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}

    @property
    def blocked(self) -> set[str]:
        return set(self.settings.plugins_block)

    def is_blocked(self, *names: str | None) -> bool:
        return any(name in self.blocked for name in names if name)

    def fail(self, record: PluginRecord, exc: BaseException) -> None:
        record.status = "failed"
        record.error = _error_text(exc)
        log.error("plugin %s failed to load: %s", record.name, record.error)
        log.debug("".join(traceback.format_exception(exc)))
        if self.settings.plugins_strict:
            raise PluginError(record.name, record.error) from exc

    def register(self, plugin: Any, record: PluginRecord) -> None:
        self.records[record.name] = record
        if self.is_blocked(record.name):
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
        version = _core_version()
        for module_name in BUILTIN_PLUGINS:
            module = importlib.import_module(module_name)
            name = "core." + module_name.rsplit(".", 1)[1]
            record = PluginRecord(name=name, status="builtin", module=module_name,
                                  distribution="cultiveat-core", version=version)
            self.register(module, record)

    def load_explicit(self, plugins: Iterable[Any]) -> None:
        """Plugins handed in by the embedder or a test: modules, objects or module paths.

        Each is named by its module path (``cultiveat_x.plugin``) or its
        ``cultiveat_plugin_name``; blocking works with that name or with the name of the
        entry point that points at the same module.
        """
        aliases = self._entry_point_names() if self.blocked else {}
        for plugin in plugins:
            if isinstance(plugin, str):
                record = PluginRecord(name=plugin, status="loaded", module=plugin)
                if self.is_blocked(plugin, aliases.get(plugin)):
                    record.status = "blocked"
                    self.records[record.name] = record
                    continue
                try:
                    plugin = importlib.import_module(plugin)
                except Exception as exc:
                    self.records[record.name] = record
                    self.fail(record, exc)
                    continue
            name = plugin_name(plugin)
            module = plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__module__
            record = PluginRecord(name=name, status="loaded", module=module)
            if self.is_blocked(aliases.get(module)):
                record.status = "blocked"
                self.records[name] = record
                continue
            self.register(plugin, record)

    @staticmethod
    def _entry_point_names() -> dict[str, str]:
        return {ep.value: ep.name for ep in _entry_points()}

    def load_entrypoints(self) -> None:
        for ep in _entry_points():
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
            if self.is_blocked(ep.name):
                record.status = "blocked"
                self.records[ep.name] = record
                continue
            if self._known_module(ep.value, record):
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                self.records[ep.name] = record
                self.fail(record, exc)
                continue
            if self.pm.is_registered(plugin):
                continue  # the same object handed in explicitly under another name
            self.register(plugin, record)

    def _known_module(self, module: str, found: PluginRecord) -> bool:
        """Is ``module`` already loaded explicitly? Then complete its record and skip it."""
        for record in self.records.values():
            if record.module == module and record.status != "builtin":
                record.distribution = record.distribution or found.distribution
                record.version = record.version or found.version
                return True
        return False

    def unregister_failed(self, name: str, exc: BaseException) -> None:
        """A registration hook of ``name`` raised: drop the plugin, keep the record."""
        record = self.records[name]
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin)
        self.fail(record, exc)

    def warn_unknown_hooks(self) -> None:
        """A hook implementation no spec declares is probably a typo: say so, by plugin."""
        for name in self.pm.hook.__dict__:
            if name.startswith("_"):
                continue
            caller = getattr(self.pm.hook, name)
            if caller.has_spec():
                continue
            for impl in caller.get_hookimpls():
                if not impl.optionalhook:
                    log.warning(
                        "plugin %s implements hook %r, which no loaded plugin declares "
                        "(a typo, or a hook of a plugin that is not installed?)",
                        impl.plugin_name, name,
                    )


def get_plugin_manager(
    settings: Settings, plugins: Sequence[Any] = (), load_entrypoints: bool = True
) -> PluginLoader:
    """A fresh manager (never shared between CRMs) with built-ins, ``plugins`` and entry points."""
    loader = PluginLoader(settings)
    loader.load_builtins()
    loader.load_explicit(plugins)
    if load_entrypoints:
        loader.load_entrypoints()
    loader.warn_unknown_hooks()
    return loader
