"""Settings from ``CULTIVEAT_*`` environment variables and an optional TOML file.

Precedence: explicit keyword arguments, then the environment, then the TOML file named by
``CULTIVEAT_CONFIG`` (top-level keys for the core, a ``[<plugin>]`` table per plugin), then
defaults. Plugins declare attrs classes with ``plugin: ClassVar[str]`` and read them with
``crm.plugin_settings(TheClass)``; their variables are ``CULTIVEAT_<PLUGIN>_<FIELD>``.
"""

from __future__ import annotations

import os
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import attrs

from cultiveat_core.errors import ConfigurationError

ENV_PREFIX = "CULTIVEAT_"
T = TypeVar("T")


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected a boolean (1/0, true/false), got {value!r}")


def _to_tuple(value: Any) -> tuple[str, ...]:
    if isinstance(value, list | tuple):
        return tuple(str(v).strip() for v in value if str(v).strip())
    return tuple(part.strip() for part in str(value).split(",") if part.strip())


def _convert(value: Any, annotation: Any) -> Any:
    """Convert a raw string (env) or TOML value to the field's annotated type."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if value in ("", None):
            return None
        annotation = args[0]
        origin = typing.get_origin(annotation)
    if annotation is bool:
        return _to_bool(value)
    if annotation is int:
        return int(value)
    if annotation is float:
        return float(value)
    if annotation is str:
        return str(value)
    if origin is tuple or annotation is tuple:
        return _to_tuple(value)
    return value


def load_attrs_settings(
    cls: type[T],
    prefix: str,
    environ: Mapping[str, str],
    table: Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
) -> T:
    """Build ``cls`` from overrides, ``<prefix><FIELD>`` variables and a TOML table."""
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for field in attrs.fields(cls):  # type: ignore[misc, arg-type]
        name = field.name
        env_name = f"{prefix}{name.upper()}"
        raw: Any
        if overrides and name in overrides:
            kwargs[name] = overrides[name]
            continue
        if env_name in environ:
            raw = environ[env_name]
        elif name in table:
            raw = table[name]
        else:
            continue
        try:
            kwargs[name] = _convert(raw, hints.get(name, str))
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"setting {env_name}={raw!r} is invalid: {exc}") from exc
    return cls(**kwargs)


def _default_database_url() -> str:
    return f"sqlite:///{Path.cwd() / 'cultiveat.db'}"


@attrs.frozen(kw_only=True)
class Settings:
    """The core's settings. ``Settings.from_env()`` reads them; the constructor takes values."""

    database_url: str = attrs.field(factory=_default_database_url)
    broker_url: str = ""
    # Celery queue the jobs go to: lets several Cultiveat instances share one Redis.
    broker_queue: str = "cultiveat"
    secret_key: str = ""
    plugins_strict: bool = False
    plugins_block: tuple[str, ...] = ()
    debug: bool = False
    event_wait_seconds: float = 5.0
    job_poll_seconds: float = 1.0
    embedded_worker: bool = True
    token_cache_seconds: float = 5.0
    # identity, sessions and privacy (docs/security.md)
    cookie_secure: bool = True
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    mfa_roles: tuple[str, ...] = ("admin",)
    login_max_failures: int = 5
    login_lockout_minutes: int = 15
    login_ip_max_failures: int = 50
    password_reset_minutes: int = 30
    password_reset_max_per_email: int = 3  # reset mails per address an hour (more: dropped)
    password_reset_max_per_ip: int = 20  # reset requests per client address an hour (more: 429)
    # system mail (password reset links): smtp://[user:pass@]host:port[?starttls=1] or
    # smtps://...; empty: the link is logged (WARNING, logger cultiveat.mail)
    mail_url: str = attrs.field(default="", repr=False)
    mail_from: str = "cultiveat@localhost"
    # the address users reach Cultiveat at (links in mail); empty: the request's own base URL
    public_url: str = ""
    consent_default: str = "denied"
    field_encryption_keys: str = attrs.field(default="", repr=False)
    blind_index_key: str = attrs.field(default="", repr=False)
    sensitive_fields: tuple[str, ...] = ("phone", "notes")
    retention_days: int = 2557
    role_cache_seconds: float = 5.0
    # raw sources, kept for plugin settings
    environ: Mapping[str, str] = attrs.field(factory=dict, repr=False, eq=False)
    file_data: Mapping[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        config_file: str | os.PathLike[str] | None = None,
        **overrides: Any,
    ) -> Settings:
        env = dict(os.environ if environ is None else environ)
        path = config_file or env.get(f"{ENV_PREFIX}CONFIG")
        file_data: dict[str, Any] = {}
        if path:
            try:
                file_data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
            except FileNotFoundError as exc:
                raise ConfigurationError(f"settings file {path} does not exist") from exc
            except tomllib.TOMLDecodeError as exc:
                raise ConfigurationError(f"settings file {path} is not valid TOML: {exc}") from exc
        core_table = {k: v for k, v in file_data.items() if not isinstance(v, dict)}
        overrides = {**overrides, "environ": env, "file_data": file_data}
        return load_attrs_settings(cls, ENV_PREFIX, env, core_table, overrides)

    def for_plugin(self, cls: type[T]) -> T:
        """Read a plugin's settings class (``plugin: ClassVar[str]`` names its prefix)."""
        plugin = getattr(cls, "plugin", None)
        if not plugin:
            raise ConfigurationError(
                f"settings class {cls.__name__} needs a `plugin: ClassVar[str]` naming its plugin"
            )
        prefix = f"{ENV_PREFIX}{str(plugin).upper().replace('-', '_')}_"
        table = self.file_data.get(plugin, {})
        plugin_table = table if isinstance(table, dict) else {}
        return load_attrs_settings(cls, prefix, self.environ, plugin_table)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
