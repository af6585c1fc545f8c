"""Contact KPIs of seed 003 from counters and indexes, plus every plugin's ``Kpi``.

Total contacts (all, this month, last month) come from ``core_contact_counts`` (one row per
month, kept by database triggers); hot leads from ``core_contact_stage_counts`` (one row per
stage, kept by triggers too: counting the stage's index was ~100 ms at 500,000 contacts on a
loaded machine); companies from
``core_companies`` (companies are records, one per distinct name). Plugins add figures such
as the average score through ``register_kpis``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from cultiveat_core.db import tables
from cultiveat_core.db.metadata import utcnow
from cultiveat_core.domain import Actor

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

log = logging.getLogger("cultiveat.kpis")
HOT_LEAD = "Hot Lead"


def month_key(moment: datetime) -> str:
    return f"{moment.year:04d}-{moment.month:02d}"


def previous_month(moment: datetime) -> str:
    return (
        f"{moment.year - 1:04d}-12"
        if moment.month == 1
        else f"{moment.year:04d}-{moment.month - 1:02d}"
    )


def contact_kpis(crm: CRM, actor: Actor) -> dict[str, Any]:
    crm.permissions.require(actor, "contacts.read")
    now = utcnow()
    counts = tables.contact_counts
    result: dict[str, Any] = {}
    with crm.engine.connect() as conn:
        by_month = dict(conn.execute(sa.select(counts.c.month, counts.c.total)).all())
        stages = tables.contact_stage_counts
        hot = conn.execute(
            sa.select(stages.c.total).where(stages.c.stage == HOT_LEAD)
        ).scalar_one_or_none() or 0
        companies = conn.execute(
            sa.select(sa.func.count()).select_from(tables.companies)
        ).scalar_one()
        result = {
            "total_contacts": {
                "all": int(sum(by_month.values())),
                "this_month": int(by_month.get(month_key(now), 0)),
                "last_month": int(by_month.get(previous_month(now), 0)),
            },
            "hot_leads": int(hot),
            "companies": int(companies),
        }
        for kpi in crm.registry.kpis:
            if kpi.permission is not None and not actor.can(kpi.permission):
                continue
            try:
                result[kpi.name] = kpi.compute(crm=crm, conn=conn, actor=actor)
            except Exception:
                # one plugin's broken figure must not take the dashboard down
                log.exception("KPI %s failed", kpi.name)
                result[kpi.name] = None
    return result
