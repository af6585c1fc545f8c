"""Field-level rules: sensitive contact fields masked for roles without the permission.

``CULTIVEAT_SENSITIVE_FIELDS`` (default ``phone,notes``) names them; an actor without
``contacts.read_sensitive`` (executives by default) sees a masked value: the last two
characters of a phone number, ``"***"`` for anything else. The same rule must hold in API
responses (``crm.fields_policy.mask(actor, contact_dict)``) and in exports
(``crm.fields_policy.export_masks(actor, header)``: the export writer masks those cells after
the database decrypted them; an encrypted value cannot be masked in SQL).
``export_expression`` masks a plaintext column in SQL, for plugins' own exports.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from cultiveat_core.domain import Actor

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

PERMISSION = "contacts.read_sensitive"
HIDDEN = "***"


def mask_value(name: str, value: Any) -> Any:
    if value in (None, ""):
        return value
    if name == "phone" and isinstance(value, str):
        return "•" * max(0, len(value) - 2) + value[-2:]
    return HIDDEN


class FieldPolicy:
    def __init__(self, crm: CRM) -> None:
        self.crm = crm

    @property
    def sensitive(self) -> tuple[str, ...]:
        return self.crm.settings.sensitive_fields

    def can_see(self, actor: Actor) -> bool:
        return actor.can(PERMISSION)

    def mask(self, actor: Actor, data: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of ``data`` (a contact's JSON form) with sensitive fields masked for ``actor``."""
        result = dict(data)
        if self.can_see(actor):
            return result
        for name in self.sensitive:
            if name in result:
                result[name] = mask_value(name, result[name])
            if name == "phone" and "phone_display" in result:
                result["phone_display"] = result.get("phone")  # the formatted form shows it all
        return result

    def export_masks(
        self, actor: Actor, header: Sequence[str]
    ) -> list[tuple[int, Callable[[Any], Any]]]:
        """(position, mask) for each sensitive column of an export ``actor`` may not see."""
        if self.can_see(actor):
            return []
        sensitive = set(self.sensitive)
        return [
            (i, functools.partial(mask_value, name))
            for i, name in enumerate(header)
            if name in sensitive
        ]

    def export_expression(self, actor: Actor, name: str, column: Any) -> Any:
        """The SELECT expression for an exported column: itself, or a masked literal."""
        if name not in self.sensitive or self.can_see(actor):
            return column
        if name == "phone":
            return sa.case(
                (column.is_(None), None),
                else_=sa.literal("••••") + sa.func.substr(column, sa.func.length(column) - 1, 2),
            ).label(name)
        return sa.case((column.is_(None), None), else_=sa.literal(HIDDEN)).label(name)
