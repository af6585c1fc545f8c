"""Roles map to permissions; services call ``require`` before they read or write."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cultiveat_core.domain import ROLES, Actor
from cultiveat_core.errors import PermissionDenied

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM


class PermissionService:
    def __init__(self, crm: CRM) -> None:
        self.crm = crm

    def for_role(self, role: str) -> frozenset[str]:
        perms = self.crm.registry.permissions
        if role == "admin":
            return frozenset(perms)
        return frozenset(name for name, p in perms.items() if role in p.default_roles)

    def roles(self) -> tuple[str, ...]:
        return ROLES

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

    def require(self, actor: Actor, permission: str) -> None:
        if permission not in self.crm.registry.permissions:
            raise RuntimeError(f"permission {permission!r} is not registered by any plugin")
        if not actor.can(permission):
            raise PermissionDenied(
                f"your role ({actor.role or 'none'}) lacks the permission {permission!r}",
                permission=permission,
            )
