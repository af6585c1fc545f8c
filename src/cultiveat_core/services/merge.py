"""Duplicates and merging: two records of one person become one, and nothing is lost.

Duplicates: the same normalised email is impossible (it is unique); candidates share the
E.164 phone, or first and last name and company (case-insensitive). A merge, in one
transaction, fills the kept contact's empty fields from the merged one, moves activities,
tags, notes and every plugin's rows (``merge_contact_data`` hook, then a generic move of
any other table referencing ``core_contacts.id``), records what came from where in
``core_contact_merges`` and the audit log, deletes the merged contact, and fires
``contacts_merged`` after the commit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from cultiveat_core.db import tables
from cultiveat_core.db.metadata import metadata, utcnow
from cultiveat_core.domain import Actor, Contact
from cultiveat_core.errors import Conflict, NotFound, ValidationError
from cultiveat_core.privacy.encryption import encrypt_sensitive_values
from cultiveat_core.services.search import refresh_search_docs
from cultiveat_core.services.unit_of_work import UnitOfWork, transaction

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

c = tables.contacts
FILLABLE = (
    "phone",
    "position",
    "company",
    "company_id",
    "industry",
    "company_size",
    "stage",
    "type",
    "channel",
    "owner_id",
    "address_street",
    "address_city",
    "address_state",
    "address_zip",
    "address_country",
    "notes",
)
CORE_CONTACT_TABLES = {"core_activities", "core_contact_tags"}


def find_duplicates(crm: CRM, actor: Actor, contact_id: int, limit: int = 20) -> list[Contact]:
    """Contacts that look like ``contact_id``: same phone, or same name at the same company."""
    crm.permissions.require(actor, "contacts.read")
    with crm.engine.connect() as conn:
        row = conn.execute(sa.select(c).where(c.c.id == contact_id)).mappings().first()
        if row is None:
            raise NotFound(f"contact {contact_id} does not exist")
        same_name = sa.and_(
            sa.func.lower(c.c.first_name) == row["first_name"].lower(),
            sa.func.lower(c.c.last_name) == row["last_name"].lower(),
            c.c.company_id == row["company_id"] if row["company_id"] else c.c.company_id.is_(None),
        )
        conditions = [same_name]
        if row["phone_key"]:  # the phone's blind index: the phone itself may be encrypted
            conditions.append(c.c.phone_key == row["phone_key"])
        ids = (
            conn.execute(
                sa.select(c.c.id)
                .where(sa.or_(*conditions), c.c.id != contact_id)
                .order_by(c.c.id)
                .limit(limit)
            )
            .scalars()
            .all()
        )
        return crm.contacts.load(conn, ids)


def _plugin_tables(conn: sa.Connection) -> list[tuple[sa.Table, sa.Column[Any]]]:
    """Plugin tables referencing contacts that exist in this database.

    The shared MetaData also holds tables of plugins imported in this process but not
    installed in this database (another CRM's), so the database decides.
    """
    existing = set(sa.inspect(conn).get_table_names())
    found = []
    for table in metadata.sorted_tables:
        if table.name not in existing:
            continue
        if table.name in CORE_CONTACT_TABLES or table.name == "core_contacts":
            continue
        for column in table.columns:
            if any(fk.column.table.name == "core_contacts" for fk in column.foreign_keys):
                found.append((table, column))
    return found


def merge_contacts(
    crm: CRM, actor: Actor, kept_id: int, merged_id: int, *, uow: UnitOfWork | None = None
) -> Contact:
    """Fold ``merged_id`` into ``kept_id``; returns the kept contact as it is afterwards."""
    crm.permissions.require(actor, "contacts.merge")
    if kept_id == merged_id:
        raise ValidationError.field("merge_id", "a contact cannot be merged into itself")
    with transaction(crm, actor, uow) as work:
        conn = work.conn
        found = {x.id: x for x in crm.contacts.load(conn, [kept_id, merged_id])}
        for needed in (kept_id, merged_id):
            if needed not in found:
                raise NotFound(f"contact {needed} does not exist")
        kept, merged = found[kept_id], found[merged_id]
        crm.permissions.require_contact(actor, "update", kept.owner_id)
        crm.permissions.require_contact(actor, "delete", merged.owner_id)
        rows = {
            r["id"]: r
            for r in conn.execute(sa.select(c).where(c.c.id.in_([kept_id, merged_id]))).mappings()
        }
        kept_row, merged_row = rows[kept_id], rows[merged_id]
        filled = {
            name: merged_row[name]
            for name in FILLABLE
            if kept_row[name] in (None, "") and merged_row[name] not in (None, "")
        }
        values: dict[str, Any] = dict(filled)
        if "phone" in filled:
            values["phone_key"] = merged_row["phone_key"]
        values["custom"] = {**(merged_row["custom"] or {}), **(kept_row["custom"] or {})}
        values["social"] = {**(merged_row["social"] or {}), **(kept_row["social"] or {})}
        latest = [t for t in (kept_row["last_activity_at"], merged_row["last_activity_at"]) if t]
        values["last_activity_at"] = max(latest) if latest else None
        moved: dict[str, int] = {}
        a = tables.activities
        moved["activities"] = conn.execute(
            a.update().where(a.c.contact_id == merged_id).values(contact_id=kept_id)
        ).rowcount
        ct = tables.contact_tags
        other = ct.alias("kept_tags")
        moved["tags"] = conn.execute(
            ct.update()
            .where(
                ct.c.contact_id == merged_id,
                ct.c.tag_id.not_in(sa.select(other.c.tag_id).where(other.c.contact_id == kept_id)),
            )
            .values(contact_id=kept_id)
        ).rowcount
        handled: set[str] = set()
        for result in crm.pm.hook.merge_contact_data(
            crm=crm, conn=conn, kept_id=kept_id, merged_id=merged_id
        ):
            for table_name, count in (result or {}).items():
                handled.add(table_name)
                moved[table_name] = int(count)
        for table, column in _plugin_tables(conn):
            if table.name in handled:
                continue
            try:
                with conn.begin_nested():
                    count = conn.execute(
                        table.update().where(column == merged_id).values({column.name: kept_id})
                    ).rowcount
            except sa.exc.IntegrityError:
                raise Conflict(
                    f"the rows of {table.name} for contact {merged_id} clash with those of "
                    f"contact {kept_id}; the plugin owning {table.name} must implement "
                    "merge_contact_data"
                ) from None
            if count:
                moved[f"{table.name}.{column.name}"] = count
        conn.execute(
            tables.contact_merges.insert().values(
                kept_id=kept_id,
                merged_id=merged_id,
                merged_snapshot=encrypt_sensitive_values(crm, merged.as_dict()),  # phone, notes
                moved=moved,
                merged_by=actor.user_id,
                merged_at=utcnow(),
            )
        )
        conn.execute(c.delete().where(c.c.id == merged_id))
        conn.execute(
            c.update()
            .where(c.c.id == kept_id)
            .values(**values, version=kept_row["version"] + 1, updated_at=utcnow())
        )
        refresh_search_docs(conn, [kept_id])
        after = crm.contacts.load(conn, [kept_id])[0]
        origins = {
            name: {"value": _plain(value), "from": merged_id} for name, value in filled.items()
        }
        work.audit(
            "contact.merge",
            "contact",
            kept_id,
            {
                "merged_id": merged_id,
                "merged_email": merged.email,
                "fields_from_merged": origins,
                "moved": moved,
            },
        )
        work.emit("contacts_merged", kept=after, merged=merged)
    return after


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value
