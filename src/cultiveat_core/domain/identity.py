"""Who is acting: users, roles, permissions and the ``Actor`` passed to every service call."""

from __future__ import annotations

from datetime import datetime

import attrs

ROLES = ("admin", "marketing", "sales", "executive")


@attrs.frozen
class Permission:
    """A named right. ``default_roles`` get it out of the box; ``admin`` always has every one."""

    name: str
    description: str
    default_roles: tuple[str, ...] = ()


def scope_allows(scopes: frozenset[str], permission: str) -> bool:
    """``contacts.read`` allows itself; ``contacts.*`` allows every ``contacts.`` permission."""
    if permission in scopes or "*" in scopes:
        return True
    return any(s.endswith(".*") and permission.startswith(s[:-1]) for s in scopes)


@attrs.frozen
class User:
    id: int
    email: str
    role: str
    name: str = ""
    is_active: bool = True
    created_at: datetime | None = None


@attrs.frozen
class Actor:
    """The principal behind a call: a user (through a token or a session) or the system."""

    kind: str  # "user" | "system"
    permissions: frozenset[str] = frozenset()
    user_id: int | None = None
    email: str | None = None
    role: str | None = None
    token_id: int | None = None
    request_id: str | None = None
    # an API token's scopes narrow the role's permissions (None: the role's permissions)
    scopes: frozenset[str] | None = None
    session: bool = False  # authenticated by the browser session cookie

    @classmethod
    def system(cls, reason: str = "system") -> Actor:
        return cls(kind="system", email=reason, role="admin")

    @property
    def is_system(self) -> bool:
        return self.kind == "system"

    @property
    def is_admin(self) -> bool:
        return self.is_system or self.role == "admin"

    def can(self, permission: str) -> bool:
        if self.scopes is not None and not scope_allows(self.scopes, permission):
            return False
        return self.is_admin or permission in self.permissions

    @property
    def label(self) -> str:
        return self.email or self.kind
