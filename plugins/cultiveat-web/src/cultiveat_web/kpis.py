"""Dashboard figures: seed 003's contact KPIs (this month / last month) and plugin ``Kpi``s."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from cultiveat_core.db import tables
from cultiveat_core.domain import Actor
from cultiveat_core.services.kpis import contact_kpis
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


def contact_cards(crm: CRM, actor: Actor) -> list[Card]:
    """Seed 003's cards (total with this month / last month, hot leads, companies) and every
    plugin ``Kpi`` the actor may see, from the core's KPI service (kept counters, not scans)."""
    figures = contact_kpis(crm, actor)
    total = figures.pop("total_contacts", {}) or {}
    cards = [
        Card(
            "contacts",
            "Total contacts",
            total.get("all"),
            total.get("this_month"),
            total.get("last_month"),
        ),
        Card("hot_leads", "Hot leads", figures.pop("hot_leads", None)),
        Card("companies", "Companies", figures.pop("companies", None)),
    ]
    labels = {k.name: k.label for k in crm.registry.kpis}
    for name, value in figures.items():
        if name not in labels:
            continue
        if isinstance(value, dict):
            cards.append(
                Card(
                    name,
                    labels[name],
                    value.get("value"),
                    value.get("this_month"),
                    value.get("last_month"),
                )
            )
        else:
            cards.append(Card(name, labels[name], value))
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
