"""Event-driven membership: contacts a transaction touched are re-evaluated within seconds."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import sqlalchemy as sa

from cultiveat_core import Actor
from cultiveat_segments import membership, tables
from cultiveat_segments.settings import SegmentsSettings

if TYPE_CHECKING:
    from cultiveat_core import CRM

log = logging.getLogger("cultiveat.segments")
JOB_CHUNK = 5000


def contacts_touched(crm: CRM, contact_ids: Sequence[int]) -> None:
    """Small batches run here (after commit, in the event thread); large ones become jobs."""
    ids = sorted(set(contact_ids))
    if not ids:
        return
    if len(ids) <= crm.plugin_settings(SegmentsSettings).event_direct_limit:
        membership.reevaluate(crm, ids, reason="event")
        return
    with crm.transaction(Actor.system("segments events")) as uow:
        for start in range(0, len(ids), JOB_CHUNK):
            crm.jobs.enqueue(
                "segments.reevaluate", {"contact_ids": ids[start : start + JOB_CHUNK]}, uow=uow
            )
    log.info("queued re-evaluation of %d contacts in %d jobs", len(ids), -(-len(ids) // JOB_CHUNK))


def contacts_removed(crm: CRM, contact_ids: Sequence[int]) -> None:
    """Deleted contacts left their segments through the foreign key cascade: fix the counts."""
    if not contact_ids:
        return
    s, m = tables.segments, tables.members
    with crm.begin() as conn:
        conn.execute(
            s.update().values(
                member_count=sa.select(sa.func.count())
                .select_from(m)
                .where(m.c.segment_id == s.c.id)
                .scalar_subquery()
            )
        )
