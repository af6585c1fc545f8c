"""Retention: contacts without any interaction for ``retention_days`` (7 years by default).

``retention_report`` is the dry run (how many, which ids, the cut-off); the periodic task
``core.privacy_retention`` erases them (daily) as the system, each like an erasure request.
``CULTIVEAT_RETENTION_DAYS=0`` turns retention off.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from cultiveat_core.db import tables
from cultiveat_core.db.metadata import utcnow
from cultiveat_core.domain import Actor
from cultiveat_core.privacy.erasure import erase_contact

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM
    from cultiveat_core.jobs import JobContext

SAMPLE = 100


def cutoff(crm: CRM) -> datetime | None:
    days = crm.settings.retention_days
    return utcnow() - timedelta(days=days) if days > 0 else None


def expired_clause(limit: datetime) -> Any:
    """Last interaction (latest activity, else last change, else creation) before ``limit``."""
    c = tables.contacts
    last = sa.func.coalesce(c.c.last_activity_at, c.c.updated_at, c.c.created_at)
    return last < limit


def retention_report(crm: CRM, actor: Actor) -> dict[str, Any]:
    """The dry run: what the retention job would erase now."""
    crm.permissions.require(actor, "privacy.manage")
    limit = cutoff(crm)
    if limit is None:
        return {"enabled": False, "retention_days": 0, "due": 0, "sample_ids": []}
    c = tables.contacts
    with crm.engine.connect() as conn:
        due = conn.execute(
            sa.select(sa.func.count()).select_from(c).where(expired_clause(limit))
        ).scalar()
        sample = conn.execute(
            sa.select(c.c.id).where(expired_clause(limit)).order_by(c.c.id).limit(SAMPLE)
        ).scalars()
        return {
            "enabled": True,
            "retention_days": crm.settings.retention_days,
            "cutoff": limit.isoformat(),
            "due": int(due or 0),
            "sample_ids": list(sample),
        }


def run_retention(ctx: JobContext, dry_run: bool = False, batch: int = 500) -> dict[str, Any]:
    """Job ``core.privacy_retention``: erase up to ``batch`` expired contacts (or only report)."""
    crm = ctx.crm
    actor = Actor.system("retention")
    report = retention_report(crm, actor)
    if dry_run or not report["enabled"]:
        return report | {"dry_run": True, "erased": 0}
    c = tables.contacts
    with crm.engine.connect() as conn:
        ids = list(
            conn.execute(
                sa.select(c.c.id).where(expired_clause(cutoff(crm))).order_by(c.c.id).limit(batch)  # type: ignore[arg-type]
            ).scalars()
        )
    for done, contact_id in enumerate(ids, start=1):
        erase_contact(crm, actor, contact_id, reason="retention")
        ctx.progress(done, len(ids), "erasing expired contacts")
    return report | {"dry_run": False, "erased": len(ids)}
