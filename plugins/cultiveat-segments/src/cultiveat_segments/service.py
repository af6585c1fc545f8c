"""Segment use cases, permission-checked: CRUD, validate, preview, members, overrides, history."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from cultiveat_core import Actor, Conflict, FieldError, NotFound, ValidationError
from cultiveat_core.db import tables as core
from cultiveat_core.db.metadata import utcnow
from cultiveat_segments import catalog, membership, tables
from cultiveat_segments.compiler import UnavailableCondition, compile_node
from cultiveat_segments.definitions import Analysis, analyse
from cultiveat_segments.permissions import MANAGE, READ
from cultiveat_segments.settings import SegmentsSettings

if TYPE_CHECKING:
    from cultiveat_core import CRM

s, m, o, h = tables.segments, tables.members, tables.overrides, tables.history
c = core.contacts
KINDS = ("dynamic", "static")
NAME_MAX = 120
DESCRIPTION_MAX = 500


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def definition_errors(analysis: Analysis) -> list[FieldError]:
    """Analysis errors as request field errors: ``$.all[0].op`` -> ``definition.all[0].op``."""
    return [FieldError("definition" + e.field[1:], e.message) for e in analysis.errors]


class SegmentService:
    def __init__(self, crm: CRM) -> None:
        self.crm = crm

    @property
    def settings(self) -> SegmentsSettings:
        return self.crm.plugin_settings(SegmentsSettings)

    # -- reading -----------------------------------------------------------------------------

    def _row_dict(
        self, row: Mapping[str, Any], stored: catalog.StoredSegment | None
    ) -> dict[str, Any]:
        reason = stored.unavailable_reason if stored is not None else None
        return {
            "id": row["id"],
            "name": row["name"],
            "description": row["description"],
            "kind": row["kind"],
            "definition": row["definition"],
            "is_template": bool(row["is_template"]),
            "model_run_id": row["model_run_id"],
            "member_count": row["member_count"],
            "status": "unavailable" if reason else "active",
            "unavailable_reason": reason,
            "refreshed_at": _iso(row["refreshed_at"]),
            "created_at": _iso(row["created_at"]),
            "updated_at": _iso(row["updated_at"]),
        }

    def list(self, actor: Actor) -> list[dict[str, Any]]:
        self.crm.permissions.require(actor, READ)
        with self.crm.engine.connect() as conn:
            stored = {seg.id: seg for seg in catalog.load(self.crm, conn)}
            rows = conn.execute(sa.select(s).order_by(s.c.name)).mappings().all()
        return [self._row_dict(r, stored.get(r["id"])) for r in rows]

    def get(self, actor: Actor, segment_id: int) -> dict[str, Any]:
        self.crm.permissions.require(actor, READ)
        with self.crm.engine.connect() as conn:
            row = self._row(conn, segment_id)
            stored = catalog.load(self.crm, conn, [segment_id])
        return self._row_dict(row, stored[0] if stored else None)

    def _row(self, conn: sa.Connection, segment_id: int) -> Mapping[str, Any]:
        row = conn.execute(sa.select(s).where(s.c.id == segment_id)).mappings().first()
        if row is None:
            raise NotFound(f"segment {segment_id} does not exist")
        return row

    def by_name(self, actor: Actor, name: str) -> dict[str, Any]:
        self.crm.permissions.require(actor, READ)
        with self.crm.engine.connect() as conn:
            found = conn.execute(sa.select(s.c.id).where(s.c.name == name)).scalar()
        if found is None:
            raise NotFound(f"no segment named {name!r}")
        return self.get(actor, found)

    # -- definitions -------------------------------------------------------------------------

    def analyse(self, definition: Any) -> Analysis:
        with self.crm.engine.connect() as conn:
            return analyse(definition, catalog.vocabulary(self.crm, conn))

    def validate(self, actor: Actor, definition: Any) -> dict[str, Any]:
        self.crm.permissions.require(actor, READ)
        result = self.analyse(definition).as_dict()
        for error in result["errors"]:
            error["field"] = "definition" + error["field"][1:]
        for item in result["unavailable"]:
            item["field"] = "definition" + item["field"][1:]
        return result

    def preview(self, actor: Actor, definition: Any, limit: int | None = None) -> dict[str, Any]:
        """Count and first page of who an (unsaved) definition selects, without writing anything."""
        self.crm.permissions.require(actor, READ)
        self.crm.permissions.require(actor, "contacts.read")
        analysis = self.analyse(definition)
        if analysis.errors:
            raise ValidationError(definition_errors(analysis))
        if analysis.unavailable:
            raise ValidationError(
                [FieldError("definition" + u.path[1:], u.reason) for u in analysis.unavailable]
            )
        limit = max(1, min(limit or self.settings.page_size, 500))
        with self.crm.engine.connect() as conn, conn.begin():
            membership.allow_hashing(conn)
            ctx = membership.context(self.crm, conn)
            where = compile_node(analysis.node, ctx)
            # one evaluation: the matching ids once (materialised), their count and first page
            matched = sa.select(c.c.id).where(where).cte("matched").prefix_with("MATERIALIZED")
            first = sa.select(matched.c.id).order_by(matched.c.id).limit(limit).subquery("first")
            total = sa.select(sa.func.count()).select_from(matched).scalar_subquery()
            rows = (
                conn.execute(
                    sa.select(
                        c.c.id, c.c.email, c.c.first_name, c.c.last_name, c.c.company, total.label("total")
                    )
                    .join_from(c, first, first.c.id == c.c.id)
                    .order_by(c.c.id)
                )
                .mappings()
                .all()
            )
            conn.rollback()  # nothing was written; the transaction only scoped the settings
        count = rows[0]["total"] if rows else 0
        rows = [{k: v for k, v in r.items() if k != "total"} for r in rows]
        return {"count": count, "members": [dict(r) for r in rows], "limit": limit}

    # -- writing -----------------------------------------------------------------------------

    def _clean(
        self,
        conn: sa.Connection,
        data: Mapping[str, Any],
        *,
        partial: bool,
        segment_id: int | None = None,
    ) -> dict[str, Any]:
        allowed = {"name", "description", "definition", "kind"}
        errors = [
            FieldError(k, f"unknown field; use {', '.join(sorted(allowed))}")
            for k in sorted(set(data) - allowed)
        ]
        values: dict[str, Any] = {}
        if not partial or "name" in data:
            name = data.get("name")
            if not isinstance(name, str) or not name.strip() or len(name.strip()) > NAME_MAX:
                errors.append(
                    FieldError("name", f"name is required: text of 1-{NAME_MAX} characters")
                )
            else:
                values["name"] = name.strip()
                clash = conn.execute(sa.select(s.c.id).where(s.c.name == values["name"])).scalar()
                if clash is not None and clash != segment_id:
                    errors.append(
                        FieldError(
                            "name",
                            f"a segment named {values['name']!r} exists (id {clash}); "
                            "choose another name",
                        )
                    )
        if "description" in data:
            text = data["description"] or ""
            if not isinstance(text, str) or len(text) > DESCRIPTION_MAX:
                errors.append(
                    FieldError(
                        "description", f"must be text of at most {DESCRIPTION_MAX} characters"
                    )
                )
            else:
                values["description"] = text.strip()
        if not partial or "kind" in data:
            kind = data.get("kind", "dynamic")
            if kind not in KINDS:
                errors.append(
                    FieldError(
                        "kind",
                        f"must be one of: {', '.join(KINDS)} (ML segments come from training)",
                    )
                )
            else:
                values["kind"] = kind
        kind = values.get("kind")
        if "definition" in data or (not partial and kind == "dynamic"):
            definition = data.get("definition")
            if kind == "static" and definition is not None:
                errors.append(
                    FieldError(
                        "definition", "a static list has no definition; add contacts by hand"
                    )
                )
            elif definition is None and kind == "dynamic":
                errors.append(
                    FieldError(
                        "definition",
                        "a dynamic segment needs a definition, e.g. "
                        '{"all": [{"field": "company_size", "op": ">", "value": 100}]}',
                    )
                )
            elif definition is not None:
                analysis = analyse(definition, catalog.vocabulary(self.crm, conn))
                errors.extend(definition_errors(analysis))
                if analysis.ok and segment_id is not None and segment_id in analysis.segment_refs:
                    errors.append(FieldError("definition", "a segment cannot contain itself"))
                elif analysis.ok and segment_id is not None:
                    graph = {seg.id: seg.depends_on for seg in catalog.load(self.crm, conn)}
                    graph[segment_id] = analysis.segment_refs
                    if catalog.creates_cycle(graph, segment_id):
                        errors.append(
                            FieldError(
                                "definition",
                                "segment references form a cycle; "
                                "a segment cannot depend on itself",
                            )
                        )
                values["definition"] = definition
        if errors:
            raise ValidationError(errors)
        return values

    def create(
        self, actor: Actor, data: Mapping[str, Any], *, refresh: bool = True
    ) -> dict[str, Any]:
        self.crm.permissions.require(actor, MANAGE)
        if not isinstance(data, Mapping):
            raise ValidationError.field("body", "must be a JSON object with name and definition")
        with self.crm.transaction(actor) as uow:
            values = self._clean(uow.conn, data, partial=False)
            self.check_limit(uow.conn)
            now = utcnow()
            segment_id = uow.conn.execute(
                s.insert()
                .values(
                    **values,
                    created_by=actor.user_id,
                    created_at=now,
                    updated_at=now,
                    member_count=0,
                )
                .returning(s.c.id)
            ).scalar_one()
            uow.audit(
                "segment.create", "segment", segment_id, {k: [None, v] for k, v in values.items()}
            )
        if refresh:
            membership.refresh(self.crm, [segment_id], actor=actor)
        return self.get(actor, segment_id)

    def check_limit(self, conn: sa.Connection, adding: int = 1) -> None:
        limit = self.settings.max_segments
        count = conn.execute(sa.select(sa.func.count()).select_from(s)).scalar_one()
        if count + adding > limit:
            raise Conflict(
                f"at most {limit} segments are allowed and {count} exist; delete a segment first "
                f"(or raise the limit with CULTIVEAT_SEGMENTS_MAX_SEGMENTS)",
                limit=limit,
                count=count,
            )

    def update(self, actor: Actor, segment_id: int, data: Mapping[str, Any]) -> dict[str, Any]:
        self.crm.permissions.require(actor, MANAGE)
        if not isinstance(data, Mapping):
            raise ValidationError.field("body", "must be a JSON object")
        with self.crm.transaction(actor) as uow:
            row = self._row(uow.conn, segment_id)
            if row["kind"] == "ml" and ({"definition", "kind"} & set(data)):
                raise ValidationError.field(
                    "definition",
                    "an ML segment's members come from its model; "
                    "only name and description can change",
                )
            merged = {"kind": row["kind"], **data} if row["kind"] != "ml" else dict(data)
            values = self._clean(uow.conn, merged, partial=True, segment_id=segment_id)
            if row["kind"] == "ml":
                values.pop("kind", None)
            changes = {k: [row[k], v] for k, v in values.items() if row[k] != v}
            if changes:
                uow.conn.execute(
                    s.update().where(s.c.id == segment_id).values(**values, updated_at=utcnow())
                )
                uow.audit("segment.update", "segment", segment_id, changes)
        if {"definition", "kind"} & set(changes):
            membership.refresh(self.crm, [segment_id], actor=actor)
        return self.get(actor, segment_id)

    def delete(self, actor: Actor, segment_id: int) -> None:
        self.crm.permissions.require(actor, MANAGE)
        with self.crm.transaction(actor) as uow:
            row = self._row(uow.conn, segment_id)
            users = [
                seg.name for seg in catalog.load(self.crm, uow.conn) if segment_id in seg.depends_on
            ]
            if users:
                raise Conflict(
                    f"segment {row['name']!r} is used by {', '.join(users)}; change those first"
                )
            uow.conn.execute(s.delete().where(s.c.id == segment_id))
            uow.audit("segment.delete", "segment", segment_id, {"name": [row["name"], None]})

    def refresh(self, actor: Actor, segment_id: int | None = None) -> list[dict[str, Any]]:
        self.crm.permissions.require(actor, MANAGE)
        if segment_id is not None:
            with self.crm.engine.connect() as conn:
                self._row(conn, segment_id)
        return [
            r.as_dict()
            for r in membership.refresh(
                self.crm, None if segment_id is None else [segment_id], actor=actor
            )
        ]

    # -- members and manual overrides ----------------------------------------------------------

    def members(
        self, actor: Actor, segment_id: int, *, limit: int = 50, after: int | None = None
    ) -> dict[str, Any]:
        self.crm.permissions.require(actor, READ)
        self.crm.permissions.require(actor, "contacts.read")
        limit = max(1, min(limit, 500))
        with self.crm.engine.connect() as conn:
            row = self._row(conn, segment_id)
            query = (
                sa.select(
                    c.c.id, c.c.email, c.c.first_name, c.c.last_name, c.c.company, m.c.added_at
                )
                .join(m, m.c.contact_id == c.c.id)
                .where(m.c.segment_id == segment_id)
                .order_by(c.c.id)
                .limit(limit)
            )
            if after is not None:
                query = query.where(c.c.id > after)
            rows = conn.execute(query).mappings().all()
        items = [{**r, "added_at": _iso(r["added_at"])} for r in rows]
        return {
            "segment_id": segment_id,
            "count": row["member_count"],
            "items": items,
            "next_after": items[-1]["id"] if len(items) == limit else None,
        }

    def set_overrides(
        self, actor: Actor, segment_id: int, contact_ids: Sequence[int], mode: str
    ) -> dict[str, Any]:
        """Add contacts to (``include``) or keep them out of (``exclude``) a segment by hand."""
        self.crm.permissions.require(actor, MANAGE)
        if mode not in ("include", "exclude"):
            raise ValidationError.field("mode", "must be include or exclude")
        if (
            not isinstance(contact_ids, list)
            or not contact_ids
            or len(contact_ids) > 10000
            or not all(isinstance(i, int) and not isinstance(i, bool) for i in contact_ids)
        ):
            raise ValidationError.field("contact_ids", "must be a list of 1-10000 contact ids")
        ids = sorted(set(contact_ids))
        with self.crm.transaction(actor) as uow:
            row = self._row(uow.conn, segment_id)
            if row["kind"] == "ml":
                raise ValidationError.field(
                    "segment", "an ML segment's members come from its model"
                )
            present = set(uow.conn.execute(sa.select(c.c.id).where(c.c.id.in_(ids))).scalars())
            missing = [i for i in ids if i not in present]
            if missing:
                raise NotFound(f"contact {missing[0]} does not exist", missing=missing[:100])
            uow.conn.execute(
                o.delete().where(o.c.segment_id == segment_id, o.c.contact_id.in_(ids))
            )
            now = utcnow()
            uow.conn.execute(
                o.insert(),
                [
                    {
                        "segment_id": segment_id,
                        "contact_id": i,
                        "mode": mode,
                        "created_by": actor.user_id,
                        "created_at": now,
                    }
                    for i in ids
                ],
            )
            uow.audit(
                f"segment.{mode}",
                "segment",
                segment_id,
                {"contact_ids": ids[:1000], "count": len(ids)},
            )
        membership.reevaluate(self.crm, ids, reason="manual", segment_ids=[segment_id], actor=actor)
        return self.get(actor, segment_id)

    def clear_override(self, actor: Actor, segment_id: int, contact_id: int) -> dict[str, Any]:
        self.crm.permissions.require(actor, MANAGE)
        with self.crm.transaction(actor) as uow:
            self._row(uow.conn, segment_id)
            gone = uow.conn.execute(
                o.delete().where(o.c.segment_id == segment_id, o.c.contact_id == contact_id)
            ).rowcount
            if not gone:
                raise NotFound(
                    f"contact {contact_id} was not added to or removed from segment {segment_id} "
                    "by hand"
                )
            uow.audit("segment.clear_override", "segment", segment_id, {"contact_id": contact_id})
        membership.reevaluate(
            self.crm, [contact_id], reason="manual", segment_ids=[segment_id], actor=actor
        )
        return self.get(actor, segment_id)

    def contact_segments(self, actor: Actor, contact_id: int) -> list[dict[str, Any]]:
        """Every segment with this contact's status: member, qualifies by rule, manual override."""
        self.crm.permissions.require(actor, READ)
        self.crm.contacts.get(actor, contact_id)
        with self.crm.engine.connect() as conn:
            segments = catalog.load(self.crm, conn)
            rows = {r["id"]: r for r in conn.execute(sa.select(s)).mappings()}
            member = {
                r.segment_id: r.added_at
                for r in conn.execute(
                    sa.select(m.c.segment_id, m.c.added_at).where(m.c.contact_id == contact_id)
                )
            }
            manual = dict(
                conn.execute(
                    sa.select(o.c.segment_id, o.c.mode).where(o.c.contact_id == contact_id)
                ).all()
            )
            ctx = membership.context(self.crm, conn, [contact_id])
            result = []
            for seg in segments:
                qualifies: bool | None = None
                if seg.kind == "dynamic" and seg.unavailable_reason is None:
                    assert seg.analysis is not None
                    try:
                        where = compile_node(seg.analysis.node, ctx)
                        qualifies = (
                            conn.execute(
                                sa.select(c.c.id).where(where, c.c.id == contact_id)
                            ).first()
                            is not None
                        )
                    except UnavailableCondition:
                        qualifies = None
                row = rows[seg.id]
                result.append(
                    {
                        "segment_id": seg.id,
                        "name": seg.name,
                        "description": row["description"],
                        "kind": seg.kind,
                        "member": seg.id in member,
                        "added_at": _iso(member.get(seg.id)),
                        "qualifies": qualifies,
                        "override": manual.get(seg.id),
                        "member_count": row["member_count"],
                        "refreshed_at": _iso(row["refreshed_at"]),
                        "unavailable_reason": seg.unavailable_reason,
                    }
                )
        return result

    def history(
        self,
        actor: Actor,
        segment_id: int | None = None,
        *,
        contact_id: int | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> dict[str, Any]:
        self.crm.permissions.require(actor, READ)
        limit = max(1, min(limit, 1000))
        query = (
            sa.select(h, s.c.name.label("segment_name"))
            .outerjoin(s, s.c.id == h.c.segment_id)
            .order_by(h.c.id.desc())
            .limit(limit)
        )
        if segment_id is not None:
            query = query.where(h.c.segment_id == segment_id)
        if contact_id is not None:
            query = query.where(h.c.contact_id == contact_id)
        if before_id is not None:
            query = query.where(h.c.id < before_id)
        with self.crm.engine.connect() as conn:
            if segment_id is not None:
                self._row(conn, segment_id)
            rows = conn.execute(query).mappings().all()
        items = [{**r, "occurred_at": _iso(r["occurred_at"])} for r in rows]
        return {"items": items, "next_before": items[-1]["id"] if len(items) == limit else None}
