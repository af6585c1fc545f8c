"""Tags: names (≤30 characters, unique case-insensitively), assignment with a source
(manual, auto, import), bulk add/remove, autocomplete, rename and merge.

Seed 003's initial tags: when a contact enters the CRM, the values of the form fields
position, utility type, biggest challenge, subscribed and schedule demo become tags
(source ``auto``) when they are filled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from cultiveat_core.db import tables
from cultiveat_core.db.metadata import utcnow
from cultiveat_core.domain import Actor
from cultiveat_core.errors import FieldError, NotFound, ValidationError
from cultiveat_core.services.search import refresh_search_docs
from cultiveat_core.services.unit_of_work import UnitOfWork, transaction
from cultiveat_core.services.validation import TAG_MAX, clean_tag

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

t = tables.tags
ct = tables.contact_tags
SUGGESTED_TAGS = (
    "Enterprise",
    "SMB",
    "CEO",
    "Decision Maker",
    "Newsletter",
    "Demo",
    "Partner",
    "Priority",
)
# custom field -> tag text when the value is true (flags) or the value itself (text fields)
INITIAL_TAG_FLAGS = {"subscribed": "Subscribed", "schedule_demo": "Schedule Demo"}
INITIAL_TAG_TEXT = ("utility_type", "biggest_challenge")


def insert_missing(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows``, ignoring those whose unique key already exists (concurrent writers)."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    conn.execute(insert(table).on_conflict_do_nothing(), rows)


def tag_ids(conn: sa.Connection, names: Iterable[str]) -> dict[str, int]:
    """Tag ids by lower-cased name, creating missing tags."""
    wanted = {n.lower(): n for n in names}
    if not wanted:
        return {}
    found = dict(
        conn.execute(sa.select(t.c.name_key, t.c.id).where(t.c.name_key.in_(wanted))).all()
    )
    missing = [
        {"name": wanted[k], "name_key": k, "created_at": utcnow()} for k in wanted if k not in found
    ]
    if missing:
        insert_missing(conn, t, missing)
        found.update(
            conn.execute(
                sa.select(t.c.name_key, t.c.id).where(
                    t.c.name_key.in_([m["name_key"] for m in missing])
                )
            ).all()
        )
    return found


def add_tags(
    conn: sa.Connection, names_by_contact: Mapping[int, Sequence[str]], source: str
) -> None:
    """Assign tags (existing assignments are left as they are)."""
    ids = tag_ids(conn, {n for names in names_by_contact.values() for n in names})
    now = utcnow()
    rows = [
        {"contact_id": contact_id, "tag_id": ids[key], "source": source, "created_at": now}
        for contact_id, names in names_by_contact.items()
        for key in dict.fromkeys(n.lower() for n in names)
    ]
    if conn.dialect.name == "postgresql" and len(rows) > 50:
        # one statement over arrays instead of one parameter set per row (imports)
        conn.execute(
            sa.text(
                "INSERT INTO core_contact_tags (contact_id, tag_id, source, created_at) "
                "SELECT c, t, :source, :now FROM unnest(CAST(:contacts AS integer[]), "
                "CAST(:tags AS integer[])) AS u(c, t) ON CONFLICT DO NOTHING"
            ),
            {
                "source": source,
                "now": now,
                "contacts": [r["contact_id"] for r in rows],
                "tags": [r["tag_id"] for r in rows],
            },
        )
        return
    insert_missing(conn, ct, rows)


def initial_tags(values: Mapping[str, Any]) -> list[str]:
    """Seed 003's initial tags from the filled form fields of a new contact."""
    found: list[str] = []
    position = values.get("position")
    if position and len(position) <= TAG_MAX:
        found.append(position)
    custom = values.get("custom") or {}
    for name in INITIAL_TAG_TEXT:
        value = custom.get(name)
        if isinstance(value, str) and value.strip() and len(value.strip()) <= TAG_MAX:
            found.append(" ".join(value.split()))
    for name, tag in INITIAL_TAG_FLAGS.items():
        if custom.get(name) in (True, "true", "yes", "1", 1):
            found.append(tag)
    return found


class TagService:
    def __init__(self, crm: CRM) -> None:
        self.crm = crm

    def autocomplete(self, actor: Actor, prefix: str = "", limit: int = 20) -> list[dict[str, Any]]:
        """Tags starting with ``prefix`` (case-insensitive), most used first, then suggestions."""
        self.crm.permissions.require(actor, "contacts.read")
        key = prefix.strip().lower()
        escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        usage = (
            sa.select(sa.func.count())
            .select_from(ct)
            .where(ct.c.tag_id == t.c.id)
            .correlate(t)
            .scalar_subquery()
        )
        query = (
            sa.select(t.c.name, usage.label("contacts"))
            .where(t.c.name_key.like(f"{escaped}%", escape="\\"))
            .order_by(usage.desc(), t.c.name_key)
            .limit(max(1, min(limit, 100)))
        )
        with self.crm.engine.connect() as conn:
            rows = [{"name": n, "contacts": count} for n, count in conn.execute(query)]
        have = {r["name"].lower() for r in rows}
        rows += [
            {"name": s, "contacts": 0}
            for s in SUGGESTED_TAGS
            if s.lower().startswith(key) and s.lower() not in have
        ][: max(0, limit - len(rows))]
        return rows

    def rename(
        self, actor: Actor, name: str, new_name: str, *, uow: UnitOfWork | None = None
    ) -> dict[str, Any]:
        """Rename a tag; when ``new_name`` already exists the two are merged into it."""
        self.crm.permissions.require(actor, "tags.manage")
        errors: list[FieldError] = []
        target = clean_tag(new_name, "new_name", errors)
        if errors or target is None:
            raise ValidationError(errors)
        with transaction(self.crm, actor, uow) as work:
            conn = work.conn
            source = conn.execute(
                sa.select(t.c.id, t.c.name).where(t.c.name_key == name.strip().lower())
            ).first()
            if source is None:
                raise NotFound(f"tag {name!r} does not exist")
            existing = conn.execute(
                sa.select(t.c.id).where(t.c.name_key == target.lower())
            ).scalar()
            affected = sa.select(ct.c.contact_id).where(ct.c.tag_id == source.id)
            count = conn.execute(
                sa.select(sa.func.count()).select_from(affected.subquery())
            ).scalar_one()
            if existing is None or existing == source.id:
                conn.execute(
                    t.update()
                    .where(t.c.id == source.id)
                    .values(name=target, name_key=target.lower())
                )
                refresh_search_docs(conn, affected)
                work.audit(
                    "tag.rename",
                    "tag",
                    source.id,
                    {"before": source.name, "after": target, "contacts": count},
                )
                return {"name": target, "contacts": count, "merged": False}
            # merge: move assignments the target lacks, drop the rest with the old tag
            self._merge_assignments(conn, source.id, existing)
            conn.execute(t.delete().where(t.c.id == source.id))
            refresh_search_docs(conn, sa.select(ct.c.contact_id).where(ct.c.tag_id == existing))
            work.audit(
                "tag.merge",
                "tag",
                existing,
                {"merged": source.name, "into": target, "contacts": count},
            )
            return {"name": target, "contacts": count, "merged": True}

    @staticmethod
    def _merge_assignments(conn: sa.Connection, from_id: int, to_id: int) -> None:
        other = ct.alias("other")
        already = sa.select(other.c.contact_id).where(other.c.tag_id == to_id)
        conn.execute(
            ct.update()
            .where(ct.c.tag_id == from_id, ct.c.contact_id.not_in(already))
            .values(tag_id=to_id)
        )
        conn.execute(ct.delete().where(ct.c.tag_id == from_id))

    def delete(self, actor: Actor, name: str, *, uow: UnitOfWork | None = None) -> int:
        """Delete a tag everywhere; returns how many contacts lost it."""
        self.crm.permissions.require(actor, "tags.manage")
        with transaction(self.crm, actor, uow) as work:
            tag_id = work.conn.execute(
                sa.select(t.c.id).where(t.c.name_key == name.strip().lower())
            ).scalar()
            if tag_id is None:
                raise NotFound(f"tag {name!r} does not exist")
            affected = sa.select(ct.c.contact_id).where(ct.c.tag_id == tag_id)
            count = work.conn.execute(
                sa.select(sa.func.count()).select_from(affected.subquery())
            ).scalar_one()
            # blank the name first so the refreshed search documents no longer contain it
            work.conn.execute(t.update().where(t.c.id == tag_id).values(name=""))
            refresh_search_docs(work.conn, affected)
            work.conn.execute(t.delete().where(t.c.id == tag_id))
            work.audit("tag.delete", "tag", tag_id, {"name": name, "contacts": count})
        return int(count)
