"""Audiences: hand-picked contacts (a static list), a segment (segments plugin) or a filter.

``{"contact_ids": [...]}`` always works; ``{"segment_id": n}`` needs the segments plugin and
says so clearly when it is absent; ``{"filter": {"stage", "owner_id", "company", "tag"}}``
is a set-based condition on the contacts table.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any

import sqlalchemy as sa

from cultiveat_core import CRM, FieldError, ValidationError
from cultiveat_core.db import tables as core_tables

c = core_tables.contacts
MAX_CONTACT_IDS = 100_000
FILTER_KEYS = ("stage", "owner_id", "company", "tag")
SEGMENTS_MISSING = (
    "segment audiences need the segments plugin: install cultiveat-segments "
    "(pip install 'cultiveat-campaigns[segments]'), or pick contacts with contact_ids"
)


def segments_available(crm: CRM) -> bool:
    loaded = any(
        r.module.startswith("cultiveat_segments") and r.status == "loaded"
        for r in crm.plugin_records.values()
        if r.module
    )
    return loaded and importlib.util.find_spec("cultiveat_segments") is not None


def validate(crm: CRM, audience: Any) -> dict[str, Any]:
    if not isinstance(audience, Mapping) or len(audience) != 1:
        raise ValidationError.field(
            "audience",
            'must be one of {"contact_ids": [1, 2]}, {"segment_id": 3} or {"filter": {...}}',
        )
    ((kind, value),) = audience.items()
    if kind == "contact_ids":
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, int) and v > 0 for v in value)
        ):
            raise ValidationError.field(
                "audience.contact_ids", "must be a non-empty list of contact ids"
            )
        if len(value) > MAX_CONTACT_IDS:
            raise ValidationError.field(
                "audience.contact_ids", f"at most {MAX_CONTACT_IDS} ids; use a segment"
            )
        ids = sorted(set(value))
        with crm.connect() as conn:
            present = set(conn.execute(sa.select(c.c.id).where(c.c.id.in_(ids))).scalars())
        missing = [i for i in ids if i not in present]
        if missing:
            raise ValidationError.field(
                "audience.contact_ids", f"contacts {missing[:10]} do not exist"
            )
        return {"contact_ids": ids}
    if kind == "segment_id":
        if not isinstance(value, int):
            raise ValidationError.field("audience.segment_id", "must be a segment id (a number)")
        if not segments_available(crm):
            raise ValidationError.field("audience.segment_id", SEGMENTS_MISSING)
        api = importlib.import_module("cultiveat_segments.api")
        next(iter(api.iter_member_ids(crm, value, 1)), None)  # NotFound for an unknown segment
        return {"segment_id": value}
    if kind == "filter":
        if not isinstance(value, Mapping) or not value or set(value) - set(FILTER_KEYS):
            raise ValidationError.field("audience.filter", "keys may be: " + ", ".join(FILTER_KEYS))
        return {"filter": dict(value)}
    raise ValidationError(
        errors=[
            FieldError(
                "audience", f"unknown audience kind {kind!r}; use contact_ids, segment_id or filter"
            )
        ]
    )


def filter_clause(spec: Mapping[str, Any]) -> Any:
    conditions = []
    if "stage" in spec:
        stages = spec["stage"] if isinstance(spec["stage"], list) else [spec["stage"]]
        conditions.append(c.c.stage.in_([str(s) for s in stages]))
    if "owner_id" in spec:
        conditions.append(c.c.owner_id == int(spec["owner_id"]))
    if "company" in spec:
        conditions.append(sa.func.lower(c.c.company) == str(spec["company"]).lower())
    if "tag" in spec:
        t, ct = core_tables.tags, core_tables.contact_tags
        conditions.append(
            sa.exists().where(
                ct.c.contact_id == c.c.id,
                ct.c.tag_id == t.c.id,
                t.c.name_key == str(spec["tag"]).strip().lower(),
            )
        )
    return sa.and_(*conditions)


def id_batches(crm: CRM, audience: Mapping[str, Any], batch_size: int) -> Iterator[list[int]]:
    """The audience's contact ids, ``batch_size`` at a time (never all in memory at once)."""
    if "contact_ids" in audience:
        ids = audience["contact_ids"]
        for start in range(0, len(ids), batch_size):
            yield ids[start : start + batch_size]
    elif "segment_id" in audience:
        if not segments_available(crm):
            raise ValidationError.field("audience.segment_id", SEGMENTS_MISSING)
        api = importlib.import_module("cultiveat_segments.api")
        pending: list[int] = []
        for item in api.iter_member_ids(crm, audience["segment_id"], batch_size):
            pending.extend(item if isinstance(item, list | tuple) else [item])
            while len(pending) >= batch_size:
                yield pending[:batch_size]
                pending = pending[batch_size:]
        if pending:
            yield pending
    else:
        after = 0
        clause = filter_clause(audience["filter"])
        while True:
            with crm.connect() as conn:
                ids = list(
                    conn.execute(
                        sa.select(c.c.id)
                        .where(clause, c.c.id > after)
                        .order_by(c.c.id)
                        .limit(batch_size)
                    ).scalars()
                )
            if not ids:
                return
            yield ids
            after = ids[-1]


def count(crm: CRM, audience: Mapping[str, Any]) -> int | None:
    """How many contacts the audience has now (None for segments: counted while adding)."""
    if "contact_ids" in audience:
        return len(audience["contact_ids"])
    if "filter" in audience:
        with crm.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(c)
                    .where(filter_clause(audience["filter"]))
                ).scalar()
                or 0
            )
    return None


def not_owned_by(crm: CRM, audience: Mapping[str, Any], user_id: int | None) -> int:
    """How many audience contacts someone else owns (sales may send to their own only)."""
    if "contact_ids" in audience:
        clause = c.c.id.in_(audience["contact_ids"])
    elif "filter" in audience:
        clause = filter_clause(audience["filter"])
    else:
        return -1  # segments: not checkable up front; sales cannot use them
    with crm.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(c)
                .where(clause, sa.or_(c.c.owner_id.is_(None), c.c.owner_id != user_id))
            ).scalar()
            or 0
        )
