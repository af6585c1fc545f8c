"""Custom contact fields declared by an admin (API) or a plugin (``define(..., plugin=...)``).

Values live in ``core_contacts.custom`` (JSON) under the field's name; each definition gives
the type its values are checked against, and the list filters on them (``custom.<name>=``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from cultiveat_core.db import tables
from cultiveat_core.db.metadata import utcnow
from cultiveat_core.domain import Actor
from cultiveat_core.errors import Conflict, FieldError, NotFound, ValidationError
from cultiveat_core.services.unit_of_work import UnitOfWork, transaction

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

FIELD_TYPES = ("text", "number", "date", "bool", "choice")
NAME_PATTERN = r"[a-z][a-z0-9_]{0,63}"
TEXT_MAX = 1000
cf = tables.custom_fields


@attrs.frozen
class CustomField:
    name: str
    label: str
    type: str
    choices: tuple[str, ...] = ()
    required: bool = False
    plugin: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self)
        data["choices"] = list(self.choices)
        return data

    def clean(self, value: Any, errors: list[FieldError]) -> Any:
        """The stored form of ``value``, or None after adding a FieldError saying what to fix."""
        field = f"custom.{self.name}"
        if value in (None, ""):
            if self.required:
                errors.append(FieldError(field, f"{self.label} is required"))
            return None
        if self.type == "number":
            try:
                number = float(value) if not isinstance(value, bool) else None
            except (TypeError, ValueError):
                number = None
            if number is None or number != number:  # NaN
                errors.append(FieldError(field, f"{value!r} is not a number"))
                return None
            return int(number) if number.is_integer() else number
        if self.type == "date":
            try:
                return date.fromisoformat(str(value)[:10]).isoformat()
            except ValueError:
                errors.append(FieldError(field, f"{value!r} is not a date; use YYYY-MM-DD"))
                return None
        if self.type == "bool":
            text = str(value).strip().lower()
            if isinstance(value, bool) or text in ("true", "false", "yes", "no", "1", "0"):
                return value if isinstance(value, bool) else text in ("true", "yes", "1")
            errors.append(FieldError(field, f"{value!r} is not yes/no; use true or false"))
            return None
        if self.type == "choice":
            by_lower = {c.lower(): c for c in self.choices}
            if str(value).strip().lower() not in by_lower:
                errors.append(
                    FieldError(field, f"{value!r} is not one of: {', '.join(self.choices)}")
                )
                return None
            return by_lower[str(value).strip().lower()]
        text = str(value).replace("\x00", "").strip()
        if len(text) > TEXT_MAX:
            errors.append(FieldError(field, f"must be at most {TEXT_MAX} characters"))
            return None
        return text


def _row(row: Any) -> CustomField:
    return CustomField(
        row["name"],
        row["label"],
        row["type"],
        tuple(row["choices"] or ()),
        bool(row["required"]),
        row["plugin"],
    )


class CustomFieldService:
    def __init__(self, crm: CRM) -> None:
        self.crm = crm

    def all(self, conn: sa.Connection | None = None) -> dict[str, CustomField]:
        query = sa.select(cf).order_by(cf.c.name)
        if conn is not None:
            return {r["name"]: _row(r) for r in conn.execute(query).mappings()}
        with self.crm.engine.connect() as own:
            return {r["name"]: _row(r) for r in own.execute(query).mappings()}

    def define(
        self,
        actor: Actor,
        name: str,
        label: str,
        type: str = "text",
        *,
        choices: Sequence[str] = (),
        required: bool = False,
        plugin: str | None = None,
        uow: UnitOfWork | None = None,
    ) -> CustomField:
        """Declare a field (admins through the API, plugins at install time with ``plugin=``)."""
        self.crm.permissions.require(actor, "contacts.custom_fields")
        errors: list[FieldError] = []
        if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
            errors.append(
                FieldError(
                    "name", "use lower-case letters, digits and _ (start with a letter, ≤64)"
                )
            )
        if not isinstance(label, str) or not label.strip() or len(label) > 200:
            errors.append(FieldError("label", "a label of 1-200 characters is required"))
        if type not in FIELD_TYPES:
            errors.append(FieldError("type", f"must be one of: {', '.join(FIELD_TYPES)}"))
        if type == "choice" and not choices:
            errors.append(FieldError("choices", "a choice field needs a list of choices"))
        if errors:
            raise ValidationError(errors)
        field = CustomField(
            name, label.strip(), type, tuple(str(c) for c in choices), required, plugin
        )
        with transaction(self.crm, actor, uow) as work:
            if work.conn.execute(sa.select(cf.c.name).where(cf.c.name == name)).first() is not None:
                raise Conflict(f"custom field {name!r} already exists")
            work.conn.execute(cf.insert().values(**field.as_dict(), created_at=utcnow()))
            work.audit("custom_field.define", "custom_field", name, field.as_dict())
        return field

    def remove(self, actor: Actor, name: str, *, uow: UnitOfWork | None = None) -> None:
        """Forget a definition (values stay in ``custom`` but are no longer validated or listed)."""
        self.crm.permissions.require(actor, "contacts.custom_fields")
        with transaction(self.crm, actor, uow) as work:
            if work.conn.execute(cf.delete().where(cf.c.name == name)).rowcount == 0:
                raise NotFound(f"custom field {name!r} does not exist")
            work.audit("custom_field.remove", "custom_field", name, {})

    @staticmethod
    def clean_values(
        definitions: Mapping[str, CustomField],
        data: Any,
        errors: list[FieldError],
        *,
        partial: bool,
    ) -> dict[str, Any] | None:
        if not isinstance(data, Mapping):
            errors.append(FieldError("custom", "must be an object of custom field values"))
            return None
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key not in definitions:
                known = ", ".join(definitions) or "none are defined yet"
                errors.append(
                    FieldError(f"custom.{key}", f"unknown custom field; defined fields: {known}")
                )
                continue
            before = len(errors)
            cleaned = definitions[key].clean(value, errors)
            if len(errors) == before:
                values[key] = cleaned  # None clears the value on update
        if not partial:
            for name, field in definitions.items():
                if field.required and name not in data:
                    errors.append(FieldError(f"custom.{name}", f"{field.label} is required"))
        return values
