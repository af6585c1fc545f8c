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


def row_to_activity(row: Mapping[str, Any]) -> Activity:
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
            raise ValidationError.field(field, f"{value!r} is not an ISO 8601 time, e.g. 2024-01-15T14:45:00Z") from None
    else:
        raise ValidationError.field(field, "must be an ISO 8601 time string")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


class ActivityService:
    def __init__(self, crm: CRM) -> None:
        self.crm = crm

    def _clean(self, item: Mapping[str, Any], index: int | None = None) -> dict[str, Any]:
        where = "" if index is None else f"[{index}]"
        types = self.crm.registry.activity_types
        type_name = item.get("type")
        if type_name not in types:
            raise ValidationError(
                errors=[FieldError(f"type{where}", f"unknown activity type {type_name!r}; known types: "
                                   + ", ".join(sorted(types)))],
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
        occurred_at = utcnow() if occurred in (None, "") else parse_time(occurred, f"occurred_at{where}")
        return {"contact_id": item["contact_id"], "type": type_name, "occurred_at": occurred_at, "data": data}

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
            present = set(work.conn.execute(sa.select(c.c.id).where(c.c.id.in_(contact_ids))).scalars())
            missing = sorted(contact_ids - present)
            if missing:
                raise NotFound(f"contact {missing[0]} does not exist", missing=missing)
            ids = work.conn.execute(
                a.insert().returning(a.c.id, sort_by_parameter_order=True), rows
            ).scalars().all()
            latest: dict[int, datetime] = {}
            for row in rows:
                cid = row["contact_id"]
                if cid not in latest or row["occurred_at"] > latest[cid]:
                    latest[cid] = row["occurred_at"]
            work.conn.execute(
                c.update()
                .where(c.c.id == sa.bindparam("cid"))
                .where(sa.or_(c.c.last_activity_at.is_(None), c.c.last_activity_at < sa.bindparam("ts")))
                .values(last_activity_at=sa.bindparam("ts")),
                [{"cid": cid, "ts": ts} for cid, ts in latest.items()],
            )
            activities = [row_to_activity({**row, "id": id_}) for id_, row in zip(ids, rows, strict=True)]
            if len(activities) == 1:
                work.audit("activity.log", "activity", activities[0].id,
                           {"contact_id": activities[0].contact_id, "type": activities[0].type})
            else:
                work.audit("activity.log_many", "activity", None,
                           {"count": len(activities), "first_id": ids[0], "last_id": ids[-1]})
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
        """Newest first; pass the last item's ``(occurred_at, id)`` as ``before`` for the next page."""
        self.crm.permissions.require(actor, "activities.read")
        query = sa.select(a).where(a.c.contact_id == contact_id)
        if types:
            query = query.where(a.c.type.in_(list(types)))
        if before is not None:
            at, id_ = before
            query = query.where(sa.or_(a.c.occurred_at < at, sa.and_(a.c.occurred_at == at, a.c.id < id_)))
        query = query.order_by(a.c.occurred_at.desc(), a.c.id.desc()).limit(max(1, min(limit, 200)))
        with self.crm.engine.connect() as conn:
            if conn.execute(sa.select(c.c.id).where(c.c.id == contact_id)).first() is None:
                raise NotFound(f"contact {contact_id} does not exist")
            return [row_to_activity(r) for r in conn.execute(query).mappings()]
