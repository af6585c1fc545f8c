"""GDPR: a contact's segment data for subject access, and its erasure."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from cultiveat_core import Actor
from cultiveat_segments import tables

if TYPE_CHECKING:
    from cultiveat_core import CRM


def _json(row: Any) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in dict(row).items()}


def subject_access(crm: CRM, contact_id: int) -> dict[str, Any] | None:
    """The contact's memberships, membership history and preferences, JSON-ready."""
    s, m, h, p = tables.segments, tables.members, tables.history, tables.preferences
    with crm.engine.connect() as conn:
        memberships = [
            _json(r)
            for r in conn.execute(
                sa.select(s.c.name.label("segment"), m.c.added_at)
                .join(m, m.c.segment_id == s.c.id)
                .where(m.c.contact_id == contact_id)
                .order_by(s.c.name)
            ).mappings()
        ]
        history = [
            _json(r)
            for r in conn.execute(
                sa.select(h.c.segment_id, h.c.change, h.c.reason, h.c.occurred_at)
                .where(h.c.contact_id == contact_id)
                .order_by(h.c.id)
            ).mappings()
        ]
        prefs = conn.execute(sa.select(p).where(p.c.contact_id == contact_id)).mappings().first()
    if not (memberships or history or prefs):
        return None
    return {
        "memberships": memberships,
        "history": history,
        "preferences": _json(prefs) if prefs else None,
    }


def erase_contact(crm: CRM, contact_id: int) -> None:
    """Remove every row about the contact, history included (cascades cover the rest on delete)."""
    with crm.transaction(Actor.system("segments erasure")) as uow:
        for table in (
            tables.history,
            tables.members,
            tables.overrides,
            tables.preferences,
            tables.ml_assignments,
        ):
            uow.conn.execute(table.delete().where(table.c.contact_id == contact_id))
        uow.audit("segment.erase_contact", "contact", contact_id, {})
