"""Dashboard figures: seed 003's contact KPIs (this month / last month) and plugin ``Kpi``s."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from cultiveat_core.db import tables
from cultiveat_core.domain import Actor
from cultiveat_web.formatting import month_start

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

log = logging.getLogger("cultiveat.web.kpis")
c = tables.contacts
HOT_STAGE = "hot lead"


@attrs.frozen
class Card:
    name: str
    label: str
    value: Any
    this_month: Any = None
    last_month: Any = None

    @property
    def trend(self) -> str:
        if not isinstance(self.this_month, int | float) or not isinstance(
            self.last_month, int | float
        ):
            return ""
        if self.this_month > self.last_month:
            return "up"
        return "down" if self.this_month < self.last_month else "flat"


def contact_cards(crm: CRM, actor: Actor, now: datetime | None = None) -> list[Card]:
    """Total contacts, hot leads and companies, each with this month's and last month's new ones."""
    crm.permissions.require(actor, "contacts.read")
    now = now or datetime.now(UTC)
    this_start, last_start = month_start(now), month_start(now, 1)
    in_this = c.c.created_at >= this_start
    in_last = sa.and_(c.c.created_at >= last_start, c.c.created_at < this_start)
    hot = sa.func.lower(c.c.stage) == HOT_STAGE

    def count_if(condition: Any) -> Any:
        return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)

    with crm.engine.connect() as conn:
        row = (
            conn.execute(
                sa.select(
                    sa.func.count().label("total"),
                    count_if(in_this).label("total_this"),
                    count_if(in_last).label("total_last"),
                    count_if(hot).label("hot"),
                    count_if(sa.and_(hot, in_this)).label("hot_this"),
                    count_if(sa.and_(hot, in_last)).label("hot_last"),
                ).select_from(c)
            )
            .mappings()
            .one()
        )
        companies = conn.execute(sa.select(sa.func.count(sa.distinct(c.c.company_id)))).scalar_one()
    return [
        Card(
            "contacts",
            "Total contacts",
            int(row["total"]),
            int(row["total_this"]),
            int(row["total_last"]),
        ),
        Card("hot_leads", "Hot leads", int(row["hot"]), int(row["hot_this"]), int(row["hot_last"])),
        Card("companies", "Companies", int(companies)),
    ]


def plugin_cards(crm: CRM, actor: Actor) -> list[Card]:
    """Every registered ``Kpi`` the actor may see; one that fails is left out (and logged)."""
    cards = []
    with crm.engine.connect() as conn:
        for kpi in crm.registry.kpis:
            if kpi.permission is not None and not actor.can(kpi.permission):
                continue
            try:
                value = kpi.compute(crm=crm, conn=conn, actor=actor)
            except Exception:
                log.exception("KPI %s failed", kpi.name)
                continue
            if isinstance(value, dict):
                cards.append(
                    Card(
                        kpi.name,
                        kpi.label,
                        value.get("value"),
                        value.get("this_month"),
                        value.get("last_month"),
                    )
                )
            else:
                cards.append(Card(kpi.name, kpi.label, value))
    return cards


def stage_counts(crm: CRM) -> list[tuple[str, int]]:
    with crm.engine.connect() as conn:
        rows = conn.execute(
            sa.select(sa.func.coalesce(c.c.stage, "No stage"), sa.func.count())
            .group_by(c.c.stage)
            .order_by(sa.func.count().desc())
            .limit(12)
        ).all()
    return [(str(s), int(n)) for s, n in rows]


def new_per_month(crm: CRM, months: int = 6, now: datetime | None = None) -> list[tuple[str, int]]:
    """New contacts in each of the last ``months`` months (one query per month: indexed ranges)."""
    now = now or datetime.now(UTC)
    result = []
    with crm.engine.connect() as conn:
        for back in range(months - 1, -1, -1):
            start, end = month_start(now, back), month_start(now, back - 1) if back else None
            query = sa.select(sa.func.count()).select_from(c).where(c.c.created_at >= start)
            if end is not None:
                query = query.where(c.c.created_at < end)
            result.append((f"{start:%b}", int(conn.execute(query).scalar_one())))
    return result
