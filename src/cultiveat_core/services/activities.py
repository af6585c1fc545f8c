"""Activities: logging one or many, and reading a contact's timeline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from cultiveat_core.db import tables
from cultiveat_core.db.metadata import utcnow
from cultiveat_core.domain import Activity, Actor
from cultiveat_core.errors import FieldError, NotFound, ValidationError
from cultiveat_core.services.unit_of_work import UnitOfWork, transaction

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

a = tables.activities
c = tables.contacts
TIMELINE_PAGE = 25


def row_to_activity(row: Mapping[Any, Any]) -> Activity:
    return Activity(
        id=row["id"],
        contact_id=row["contact_id"],
        type=row["type"],
        occurred_at=row["occurred_at"],
        data=row["data"] or {},
        actor_id=row["actor_id"],
        created_at=row["created_at"],
    )


def parse_time(value: Any, field: str) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError.field(
                field, f"{value!r} is not an ISO 8601 time, e.g. 2024-01-15T14:45:00Z"
            ) from None
    else:
        raise ValidationError.field(field, "must be an ISO 8601 time string")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


class ActivityService:
    def __init__(self, crm: CRM) -> None:
        self.crm = crm
        self.notes = NoteService(crm)

    def _clean(self, item: Mapping[str, Any], index: int | None = None) -> dict[str, Any]:
        where = "" if index is None else f"[{index}]"
        if not isinstance(item, Mapping):
            raise ValidationError.field(f"items{where}", "each activity must be an object")
        contact_id = item.get("contact_id")
        if isinstance(contact_id, bool) or not isinstance(contact_id, int):
            raise ValidationError.field(
                f"contact_id{where}", "must be the id of a contact (a whole number)"
            )
        types = self.crm.registry.activity_types
        type_name = item.get("type")
        if type_name not in types:
            raise ValidationError(
                errors=[
                    FieldError(
                        f"type{where}",
                        f"unknown activity type {type_name!r}; known types: "
                        + ", ".join(sorted(types)),
                    )
                ],
                known_types=sorted(types),
            )
        data = item.get("data") or {}
        if not isinstance(data, Mapping):
            raise ValidationError.field(f"data{where}", "must be an object")
        data = dict(data)
        validator = types[type_name].validate
        if validator is not None:
            data = validator(data)
        occurred = item.get("occurred_at")
        occurred_at = (
            utcnow() if occurred in (None, "") else parse_time(occurred, f"occurred_at{where}")
        )
        return {
            "contact_id": item["contact_id"],
            "type": type_name,
            "occurred_at": occurred_at,
            "data": data,
        }

    def log(
        self,
        actor: Actor,
        contact_id: int,
        type: str,
        *,
        occurred_at: Any = None,
        data: Mapping[str, Any] | None = None,
        uow: UnitOfWork | None = None,
    ) -> Activity:
        item = {"contact_id": contact_id, "type": type, "occurred_at": occurred_at, "data": data}
        return self.log_many(actor, [item], uow=uow)[0]

    def log_many(
        self, actor: Actor, items: Sequence[Mapping[str, Any]], *, uow: UnitOfWork | None = None
    ) -> list[Activity]:
        """Log a batch in one transaction; ``activities_logged`` fires once with all of them."""
        self.crm.permissions.require(actor, "activities.log")
        rows = [self._clean(item, i if len(items) > 1 else None) for i, item in enumerate(items)]
        if not rows:
            return []
        now = utcnow()
        for row in rows:
            row["actor_id"] = actor.user_id
            row["created_at"] = now
        with transaction(self.crm, actor, uow) as work:
            contact_ids = {row["contact_id"] for row in rows}
            present = set(
                work.conn.execute(sa.select(c.c.id).where(c.c.id.in_(contact_ids))).scalars()
            )
            missing = sorted(contact_ids - present)
            if missing:
                raise NotFound(f"contact {missing[0]} does not exist", missing=missing)
            ids = (
                work.conn.execute(a.insert().returning(a.c.id, sort_by_parameter_order=True), rows)
                .scalars()
                .all()
            )
            # one set-based UPDATE … FROM: each contact's newest activity among the rows just
            # written (their ids come from one sequence, so the id range is about len(rows));
            # a committed activity of another transaction inside the range is a real activity too
            newest = (
                sa.select(a.c.contact_id, sa.func.max(a.c.occurred_at).label("ts"))
                .where(a.c.id.between(min(ids), max(ids)))
                .group_by(a.c.contact_id)
                .subquery("newest")
            )
            work.conn.execute(
                c.update()
                .where(c.c.id == newest.c.contact_id)
                .where(sa.or_(c.c.last_activity_at.is_(None), c.c.last_activity_at < newest.c.ts))
                .values(last_activity_at=newest.c.ts)
            )
            activities = [
                row_to_activity({**row, "id": id_}) for id_, row in zip(ids, rows, strict=True)
            ]
            if len(activities) == 1:
                work.audit(
                    "activity.log",
                    "activity",
                    activities[0].id,
                    {"contact_id": activities[0].contact_id, "type": activities[0].type},
                )
            else:
                work.audit(
                    "activity.log_many",
                    "activity",
                    None,
                    {"count": len(activities), "first_id": ids[0], "last_id": ids[-1]},
                )
            for activity in activities:
                work.emit("activity_logged", activity=activity)
        return activities

    def timeline(
        self,
        actor: Actor,
        contact_id: int,
        *,
        types: Sequence[str] = (),
        limit: int = TIMELINE_PAGE,
        before: tuple[datetime, int] | None = None,
    ) -> list[Activity]:
        """Newest first; the last item's ``(occurred_at, id)`` as ``before`` gives the next page."""
        self.crm.permissions.require(actor, "activities.read")
        query = sa.select(a).where(a.c.contact_id == contact_id)
        if types:
            query = query.where(a.c.type.in_(list(types)))
        if before is not None:
            at, id_ = before
            query = query.where(
                sa.or_(a.c.occurred_at < at, sa.and_(a.c.occurred_at == at, a.c.id < id_))
            )
        unknown = sorted(set(types) - set(self.crm.registry.activity_types))
        if unknown:
            raise ValidationError.field(
                "type",
                f"unknown activity type {unknown[0]!r}; known types: "
                + ", ".join(sorted(self.crm.registry.activity_types)),
            )
        query = query.order_by(a.c.occurred_at.desc(), a.c.id.desc()).limit(max(1, min(limit, 200)))
        with self.crm.engine.connect() as conn:
            if conn.execute(sa.select(c.c.id).where(c.c.id == contact_id)).first() is None:
                raise NotFound(f"contact {contact_id} does not exist")
            return [row_to_activity(r) for r in conn.execute(query).mappings()]


def timeline_cursor(activity: Activity) -> str:
    """Opaque cursor of the page after ``activity`` (its time and id)."""
    from cultiveat_core.services.listing import encode_cursor

    return encode_cursor(activity.occurred_at, activity.id)


def parse_timeline_cursor(cursor: str) -> tuple[datetime, int]:
    from cultiveat_core.services.listing import decode_cursor

    value, id_ = decode_cursor(cursor)
    if not isinstance(value, datetime):
        raise ValidationError.field("cursor", "not a timeline cursor; start again without it")
    return value, id_


class NoteService:
    """Editing and deleting notes (``note`` activities) under seed 003's rules.

    The note's creator may edit and delete it; the contact's owner may edit it; holders of
    ``activities.edit_any`` / ``activities.delete_any`` (admins) may do both on every note;
    everyone else only reads. Every edit keeps the previous text in
    ``core_activity_revisions`` with who changed it and when.
    """

    def __init__(self, crm: CRM) -> None:
        self.crm = crm

    def _load(self, conn: sa.Connection, activity_id: int) -> tuple[Activity, int | None]:
        row = (
            conn.execute(
                sa.select(a, c.c.owner_id.label("contact_owner"))
                .join(c, c.c.id == a.c.contact_id)
                .where(a.c.id == activity_id)
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(f"activity {activity_id} does not exist")
        return row_to_activity(row), row["contact_owner"]

    def _require(self, actor: Actor, activity: Activity, owner_id: int | None, action: str) -> None:
        from cultiveat_core.errors import PermissionDenied

        self.crm.permissions.require(actor, "activities.log")
        if activity.type != "note":
            raise ValidationError.field(
                "type",
                f"only notes can be {action}ed; activity {activity.id} is a {activity.type!r}",
            )
        if actor.can(f"activities.{action}_any"):
            return
        mine = actor.user_id is not None and activity.actor_id == actor.user_id
        owns_contact = actor.user_id is not None and owner_id == actor.user_id
        if mine or (action == "edit" and owns_contact):
            return
        who = "its author or the contact's owner" if action == "edit" else "its author"
        raise PermissionDenied(
            f"only {who} or an admin may {action} this note", permission=f"activities.{action}_any"
        )

    def edit(
        self,
        actor: Actor,
        activity_id: int,
        data: Mapping[str, Any],
        *,
        uow: UnitOfWork | None = None,
    ) -> Activity:
        from cultiveat_core.defaults.activity_types import validate_note

        with transaction(self.crm, actor, uow) as work:
            note, owner_id = self._load(work.conn, activity_id)
            self._require(actor, note, owner_id, "edit")
            if not isinstance(data, Mapping):
                raise ValidationError.field("data", "must be an object with text, note_type, tags")
            unknown = sorted(set(data) - {"text", "note_type", "tags"})
            if unknown:
                raise ValidationError.field(
                    unknown[0], "unknown field; notes have text, note_type and tags"
                )
            new_data = validate_note({**note.data, **data})
            work.conn.execute(
                tables.activity_revisions.insert().values(
                    activity_id=note.id,
                    data=dict(note.data),
                    edited_by=actor.user_id,
                    edited_at=utcnow(),
                )
            )
            work.conn.execute(a.update().where(a.c.id == note.id).values(data=new_data))
            work.audit(
                "note.edit", "activity", note.id, {"before": dict(note.data), "after": new_data}
            )
            updated, _ = self._load(work.conn, activity_id)
        return updated

    def delete(self, actor: Actor, activity_id: int, *, uow: UnitOfWork | None = None) -> None:
        with transaction(self.crm, actor, uow) as work:
            note, owner_id = self._load(work.conn, activity_id)
            self._require(actor, note, owner_id, "delete")
            work.conn.execute(a.delete().where(a.c.id == note.id))
            work.audit(
                "note.delete",
                "activity",
                note.id,
                {"contact_id": note.contact_id, "before": dict(note.data)},
            )

    def history(self, actor: Actor, activity_id: int) -> list[dict[str, Any]]:
        """Earlier versions of a note, newest first: ``{data, edited_by, edited_at}``."""
        self.crm.permissions.require(actor, "activities.read")
        r = tables.activity_revisions
        u = tables.users
        with self.crm.engine.connect() as conn:
            self._load(conn, activity_id)
            rows = (
                conn.execute(
                    sa.select(r.c.data, r.c.edited_at, u.c.email.label("edited_by"))
                    .select_from(r.outerjoin(u, u.c.id == r.c.edited_by))
                    .where(r.c.activity_id == activity_id)
                    .order_by(r.c.edited_at.desc(), r.c.id.desc())
                )
                .mappings()
                .all()
            )
        return [
            {
                "data": row["data"],
                "edited_by": row["edited_by"],
                "edited_at": row["edited_at"].isoformat(),
            }
            for row in rows
        ]
