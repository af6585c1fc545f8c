"""The public API other plugins use (campaigns, exports): stable names, no table access.

- ``iter_member_ids(crm, segment_id, batch_size=1000)``: a segment's member ids, streamed in
  ascending batches (keyset pagination: constant memory at any size).
- ``matches(crm, definition, contact_id)``: does one contact match a definition (saved or not)?
- ``segments_of(crm, contact_id)``: the segments a contact belongs to.
- ``find_segment(crm, name_or_id)``: ``{id, name, kind, member_count}`` or None.
- ``is_member(crm, segment_id, contact_id)``.
- ``preferences(crm, contact_id)``: the contact's preferences (explicit or inferred).
- ``refresh(crm, segment_id=None)``: rebuild one or every segment now.

Subscribe to ``segment_membership_changed`` (see ``hookspecs``) to act on entries and exits.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from cultiveat_core import FieldError, NotFound, ValidationError
from cultiveat_core.db import tables as core
from cultiveat_segments import catalog, membership, tables
from cultiveat_segments.compiler import compile_node
from cultiveat_segments.definitions import analyse

if TYPE_CHECKING:
    from cultiveat_core import CRM

__all__ = [
    "find_segment",
    "is_member",
    "iter_member_ids",
    "matches",
    "preferences",
    "refresh",
    "segments_of",
]

s, m = tables.segments, tables.members


def iter_member_ids(crm: CRM, segment_id: int, batch_size: int = 1000) -> Iterator[list[int]]:
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    with crm.engine.connect() as conn:
        if conn.execute(sa.select(s.c.id).where(s.c.id == segment_id)).first() is None:
            raise NotFound(f"segment {segment_id} does not exist")
    last = 0
    while True:
        with crm.engine.connect() as conn:
            batch = list(
                conn.execute(
                    sa.select(m.c.contact_id)
                    .where(m.c.segment_id == segment_id, m.c.contact_id > last)
                    .order_by(m.c.contact_id)
                    .limit(batch_size)
                ).scalars()
            )
        if not batch:
            return
        yield batch
        last = batch[-1]


def matches(crm: CRM, definition: Any, contact_id: int) -> bool:
    """Evaluate ``definition`` for one contact with the same compiled SQL as a refresh."""
    with crm.engine.connect() as conn:
        analysis = analyse(definition, catalog.vocabulary(crm, conn))
        problems = [*analysis.errors, *(FieldError(u.path, u.reason) for u in analysis.unavailable)]
        if problems:
            raise ValidationError(
                [FieldError("definition" + p.field[1:], p.message) for p in problems]
            )
        ctx = membership.context(crm, conn, [contact_id])
        where = compile_node(analysis.node, ctx)
        c = core.contacts
        return (
            conn.execute(sa.select(c.c.id).where(where, c.c.id == contact_id)).first() is not None
        )


def segments_of(crm: CRM, contact_id: int) -> list[dict[str, Any]]:
    with crm.engine.connect() as conn:
        rows = (
            conn.execute(
                sa.select(s.c.id, s.c.name, s.c.kind, m.c.added_at)
                .join(m, m.c.segment_id == s.c.id)
                .where(m.c.contact_id == contact_id)
                .order_by(s.c.name)
            )
            .mappings()
            .all()
        )
    return [dict(r) for r in rows]


def find_segment(crm: CRM, name_or_id: str | int) -> dict[str, Any] | None:
    column = s.c.id if isinstance(name_or_id, int) else s.c.name
    with crm.engine.connect() as conn:
        row = (
            conn.execute(
                sa.select(s.c.id, s.c.name, s.c.kind, s.c.member_count).where(column == name_or_id)
            )
            .mappings()
            .first()
        )
    return dict(row) if row else None


def is_member(crm: CRM, segment_id: int, contact_id: int) -> bool:
    with crm.engine.connect() as conn:
        return (
            conn.execute(
                sa.select(m.c.contact_id).where(
                    m.c.segment_id == segment_id, m.c.contact_id == contact_id
                )
            ).first()
            is not None
        )


def preferences(crm: CRM, contact_id: int) -> dict[str, Any] | None:
    from cultiveat_segments.preferences import read_preferences

    return read_preferences(crm, contact_id)


def refresh(crm: CRM, segment_id: int | None = None) -> list[dict[str, Any]]:
    return [
        r.as_dict() for r in membership.refresh(crm, None if segment_id is None else [segment_id])
    ]
