"""Errors raised by services; the web layer maps each to an HTTP status and problem details."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import attrs


@attrs.frozen
class FieldError:
    """One thing wrong with the input: which field, and what to do about it."""

    field: str
    message: str
    row: int | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"field": self.field, "message": self.message}
        if self.row is not None:
            data["row"] = self.row
        return data


class CultiveatError(Exception):
    """Base class; ``status`` is the HTTP status the web layer answers with."""

    status = 400
    title = "Bad request"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class ValidationError(CultiveatError):
    """Input that cannot be accepted; ``errors`` says which fields and how to fix them."""

    status = 422
    title = "Validation failed"

    def __init__(
        self,
        message: str | Sequence[FieldError] | None = None,
        errors: Iterable[FieldError] = (),
        **extra: Any,
    ) -> None:
        if message is not None and not isinstance(message, str):
            errors = list(message)
            message = None
        self.errors = list(errors)
        if message is None:
            message = "; ".join(f"{e.field}: {e.message}" for e in self.errors) or "invalid input"
        super().__init__(message, **extra)

    @classmethod
    def field(cls, field: str, message: str, **extra: Any) -> ValidationError:
        return cls(errors=[FieldError(field, message)], **extra)


class NotFound(CultiveatError):
    status = 404
    title = "Not found"


class PermissionDenied(CultiveatError):
    status = 403
    title = "Forbidden"


class NotAuthenticated(CultiveatError):
    status = 401
    title = "Not authenticated"


class AuthenticationFailed(CultiveatError):
    """Wrong credentials, an unusable account or a lockout; the message says what to do."""

    status = 401
    title = "Authentication failed"


class AccountLocked(AuthenticationFailed):
    """Too many failed logins: ``retry_after`` seconds until the next attempt is accepted."""

    status = 429
    title = "Too many failed logins"


class Conflict(CultiveatError):
    status = 409
    title = "Conflict"


class PreconditionFailed(CultiveatError):
    status = 412
    title = "Precondition failed"


class ConfigurationError(CultiveatError):
    """Settings or plugins that make start-up impossible."""

    status = 500
    title = "Configuration error"


class PluginError(ConfigurationError):
    """A plugin failed to load or register (fatal in strict mode)."""

    def __init__(self, plugin: str, error: str) -> None:
        super().__init__(f"plugin {plugin!r} failed: {error}")
        self.plugin = plugin
        self.error = error


class DuplicateRegistration(ConfigurationError):
    """Two plugins registered the same name for the same kind of thing."""

    def __init__(self, kind: str, name: str, first: str, second: str) -> None:
        super().__init__(
            f"{kind} {name!r} is registered by both plugin {first!r} and plugin {second!r}; "
            f"block one of them with CULTIVEAT_PLUGINS_BLOCK or rename it"
        )
        self.kind = kind
        self.name = name
        self.plugins = (first, second)


class DatabaseNotMigrated(ConfigurationError):
    def __init__(self, detail: str) -> None:
        super().__init__(
            f"the database is not migrated ({detail}); run `cultiveat db upgrade` first"
        )
