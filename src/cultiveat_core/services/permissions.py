"""Roles map to permissions; services call ``require`` before they read or write.

Permissions are registered by the core and plugins (``register_permissions``). The built-in
roles (admin, marketing, sales, executive) start with each permission's ``default_roles``;
an administrator can change what a built-in role holds or add roles of their own, stored in
``core_roles``. ``admin`` always holds every permission. Role definitions are cached for
``role_cache_seconds`` per process (changes made here clear the cache at once).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from cultiveat_core.db import tables
from cultiveat_core.db.metadata import utcnow
from cultiveat_core.domain import ROLES, Actor
from cultiveat_core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from cultiveat_core.services.unit_of_work import UnitOfWork, transaction

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

r = tables.roles
ROLE_NAME = re.compile(r"^[a-z][a-z0-9_-]{1,49}$")


class PermissionService:
    def __init__(self, crm: CRM) -> None:
        self.crm = crm
        self._lock = threading.Lock()
        self._cache: tuple[float, dict[str, dict[str, Any]]] | None = None

    # -- role definitions -----------------------------------------------------------------

    def _stored_roles(self) -> dict[str, dict[str, Any]]:
        now = time.monotonic()
        with self._lock:
            if self._cache is not None and self._cache[0] > now:
                return self._cache[1]
        try:
            with self.crm.engine.connect() as conn:
                rows = conn.execute(sa.select(r)).mappings().all()
        except sa.exc.DBAPIError:  # not migrated yet (e.g. `cultiveat db upgrade` itself)
            rows = []
        stored = {
            row["name"]: {
                "description": row["description"],
                "permissions": list(row["permissions"] or []),
            }
            for row in rows
        }
        with self._lock:
            self._cache = (now + self.crm.settings.role_cache_seconds, stored)
        return stored

    def clear_cache(self) -> None:
        with self._lock:
            self._cache = None
        self.crm.tokens.clear_cache()

    def defaults_for(self, role: str) -> frozenset[str]:
        perms = self.crm.registry.permissions
        if role == "admin":
            return frozenset(perms)
        return frozenset(name for name, p in perms.items() if role in p.default_roles)

    def for_role(self, role: str) -> frozenset[str]:
        if role == "admin":
            return frozenset(self.crm.registry.permissions)
        stored = self._stored_roles().get(role)
        if stored is None:
            return self.defaults_for(role)
        return frozenset(p for p in stored["permissions"] if p in self.crm.registry.permissions)

    def roles(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([*ROLES, *sorted(self._stored_roles())]))

    def describe_roles(self) -> list[dict[str, Any]]:
        stored = self._stored_roles()
        return [
            {
                "name": name,
                "builtin": name in ROLES,
                "customised": name in stored,
                "description": stored.get(name, {}).get("description", ""),
                "permissions": sorted(self.for_role(name)),
            }
            for name in self.roles()
        ]

    def define_role(
        self,
        actor: Actor,
        name: str,
        permissions: Iterable[str],
        *,
        description: str = "",
        uow: UnitOfWork | None = None,
    ) -> dict[str, Any]:
        """Create a role or replace what it holds (``roles.manage``); admin cannot change."""
        self.require(actor, "roles.manage")
        if not isinstance(name, str) or not ROLE_NAME.match(name):
            raise ValidationError.field(
                "name",
                "2-50 characters: lower-case letters, digits, - and _, starting with a letter",
            )
        if name == "admin":
            raise ValidationError.field("name", "the admin role always holds every permission")
        wanted = sorted(set(permissions))
        unknown = [p for p in wanted if p not in self.crm.registry.permissions]
        if unknown:
            raise ValidationError.field(
                "permissions",
                f"unknown permission(s) {', '.join(unknown)}; GET /api/permissions lists them",
            )
        if len(description) > 300:
            raise ValidationError.field("description", "at most 300 characters")
        before = sorted(self.for_role(name)) if name in self.roles() else None
        with transaction(self.crm, actor, uow) as work:
            now = utcnow()
            updated = work.conn.execute(
                r.update()
                .where(r.c.name == name)
                .values(permissions=wanted, description=description, updated_at=now)
            ).rowcount
            if not updated:
                work.conn.execute(
                    r.insert().values(
                        name=name,
                        permissions=wanted,
                        description=description,
                        created_at=now,
                        updated_at=now,
                    )
                )
            work.audit("role.define", "role", name, {"before": before, "after": wanted})
            work.on_commit(self.clear_cache)
        return {"name": name, "description": description, "permissions": wanted}

    def delete_role(self, actor: Actor, name: str, *, uow: UnitOfWork | None = None) -> None:
        """Remove an added role (no user may hold it); a built-in role returns to defaults."""
        self.require(actor, "roles.manage")
        with transaction(self.crm, actor, uow) as work:
            if name not in ROLES:
                users = work.conn.execute(
                    sa.select(sa.func.count())
                    .select_from(tables.users)
                    .where(tables.users.c.role == name)
                ).scalar()
                if users:
                    raise Conflict(
                        f"{users} user(s) hold role {name!r}; give them another role first"
                    )
            deleted = work.conn.execute(r.delete().where(r.c.name == name)).rowcount
            if not deleted:
                raise NotFound(f"role {name!r} is not defined in the database")
            work.audit("role.delete", "role", name, {})
            work.on_commit(self.clear_cache)

    # -- checks -----------------------------------------------------------------------------

    def require_contact(self, actor: Actor, action: str, owner_id: int | None) -> None:
        """Object-level rule of seed 003: ``contacts.<action>`` on one's own contacts,
        ``contacts.<action>_any`` on everyone's (marketing, admin); sales edit what they own."""
        self.require(actor, f"contacts.{action}")
        if owner_id is not None and owner_id == actor.user_id:
            return
        if not actor.can(f"contacts.{action}_any"):
            raise PermissionDenied(
                f"you may {action} only contacts you own; this one belongs to another user "
                "(ask its owner or a manager to transfer it)",
                permission=f"contacts.{action}_any",
            )

    def require_transfer(
        self, actor: Actor, old_owner_id: int | None, new_owner_id: int | None
    ) -> None:
        """Giving a contact to another owner needs ``contacts.transfer`` (seed 003), except
        keeping or taking the actor's own assignment on a contact they may already edit."""
        if new_owner_id == old_owner_id or (old_owner_id is None and new_owner_id == actor.user_id):
            return
        self.require(actor, "contacts.transfer")

    def require(self, actor: Actor, permission: str) -> None:
        if permission not in self.crm.registry.permissions:
            raise RuntimeError(f"permission {permission!r} is not registered by any plugin")
        if not actor.can(permission):
            raise PermissionDenied(
                f"your role ({actor.role or 'none'}) lacks the permission {permission!r}"
                + (
                    " (or your API token's scopes do not include it)"
                    if actor.scopes is not None
                    else ""
                ),
                permission=permission,
            )
