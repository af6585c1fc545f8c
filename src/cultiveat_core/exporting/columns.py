"""Columns of a contact export: list fields, custom fields, plugin fields, hook columns."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from cultiveat_core.db import tables
from cultiveat_core.domain import Actor

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

c = tables.contacts


@attrs.frozen(kw_only=True)
class ExportColumn:
    """A column plugins add through ``export_columns``: ``expression(contacts)`` is scalar SQL."""

    name: str
    label: str
    expression: Callable[[Any], Any] = attrs.field(eq=False)


def _tags_text(dialect: str) -> Any:
    ct, t = tables.contact_tags, tables.tags
    agg = (
        sa.func.string_agg(t.c.name, sa.literal_column("', '"))
        if dialect == "postgresql"
        else sa.func.group_concat(t.c.name, sa.literal_column("', '"))
    )
    return (
        sa.select(agg)
        .select_from(ct.join(t, t.c.id == ct.c.tag_id))
        .where(ct.c.contact_id == c.c.id)
        .scalar_subquery()
    )


def _json_text(dialect: str, column: Any, key: str) -> Any:
    return column[key].as_string()


def export_columns_for(crm: CRM, actor: Actor) -> list[tuple[str, Any]]:
    """(header, SQL expression) pairs in file order."""
    from cultiveat_core.services.listing import visible_fields

    dialect = crm.engine.dialect.name
    owner = (
        sa.select(tables.users.c.email).where(tables.users.c.id == c.c.owner_id).scalar_subquery()
    )
    columns: list[tuple[str, Any]] = [
        ("id", c.c.id),
        ("first_name", c.c.first_name),
        ("last_name", c.c.last_name),
        ("email", c.c.email),
        ("phone", c.c.phone),
        ("position", c.c.position),
        ("company", c.c.company),
        ("industry", c.c.industry),
        ("company_size", c.c.company_size),
        ("type", c.c.type),
        ("channel", c.c.channel),
        ("stage", c.c.stage),
        ("owner", owner),
        ("tags", _tags_text(dialect)),
        ("address.street", c.c.address_street),
        ("address.city", c.c.address_city),
        ("address.state", c.c.address_state),
        ("address.zip", c.c.address_zip),
        ("address.country", c.c.address_country),
    ]
    for network in ("facebook", "instagram", "linkedin", "twitter", "skype"):
        columns.append((f"social.{network}", _json_text(dialect, c.c.social, network)))
    for name in crm.contacts.custom_fields.all():
        columns.append((f"custom.{name}", _json_text(dialect, c.c.custom, name)))
    columns += [
        ("notes", c.c.notes),
        ("created_at", c.c.created_at),
        ("last_activity_at", c.c.last_activity_at),
    ]
    for name, field in visible_fields(crm, actor).items():
        columns.append((name, field.expression(c)))
    for added in crm.pm.hook.export_columns(crm=crm, actor=actor):
        for column in added or []:
            columns.append((column.name, column.expression(c)))
    return columns
