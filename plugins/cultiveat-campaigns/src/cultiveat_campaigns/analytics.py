"""Campaign analytics: delivery, open, click, bounce and unsubscribe rates, conversions and
attributed revenue (``purchase`` activities after the send), ROI, a daily series, per
segment, and a CSV export with formula cells escaped."""

from __future__ import annotations

import csv
import io
from typing import Any

import sqlalchemy as sa

from cultiveat_campaigns.service import _get
from cultiveat_campaigns.state import state
from cultiveat_campaigns.tables import campaigns, recipients
from cultiveat_core import CRM, Actor
from cultiveat_core.db import tables as core_tables

r = recipients
a = core_tables.activities


def _rate(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


def _counts(conn: sa.Connection, where: Any) -> dict[str, int]:
    def n(cond: Any) -> Any:
        return sa.func.sum(sa.case((cond, 1), else_=0))

    row = (
        conn.execute(
            sa.select(
                sa.func.count().label("recipients"),
                n(r.c.status == "excluded").label("excluded"),
                n(sa.or_(r.c.sent_at.is_not(None), r.c.bounced_at.is_not(None))).label("attempted"),
                n(r.c.sent_at.is_not(None)).label("sent"),
                n(sa.and_(r.c.sent_at.is_not(None), r.c.bounced_at.is_(None))).label("delivered"),
                n(r.c.opened_at.is_not(None)).label("opened"),
                n(r.c.clicked_at.is_not(None)).label("clicked"),
                n(r.c.bounced_at.is_not(None)).label("bounced"),
                n(r.c.unsubscribed_at.is_not(None)).label("unsubscribed"),
                n(r.c.replied_at.is_not(None)).label("replied"),
                n(r.c.status.in_(("queued", "deferred"))).label("pending"),
                n(r.c.status == "failed").label("failed"),
            ).where(where)
        )
        .mappings()
        .one()
    )
    return {k: int(v or 0) for k, v in row.items()}


def _conversions(crm: CRM, conn: sa.Connection, where: Any) -> tuple[int, float]:
    days = state(crm).settings.attribution_days
    window = (
        r.c.sent_at + sa.literal_column(f"interval '{int(days)} days'")
        if conn.dialect.name == "postgresql"
        else None
    )
    cond = [
        a.c.contact_id == r.c.contact_id,
        a.c.type == "purchase",
        a.c.occurred_at >= r.c.sent_at,
    ]
    if window is not None:
        cond.append(a.c.occurred_at <= window)
    else:  # SQLite stores naive UTC text: compare with datetime() arithmetic
        cond.append(a.c.occurred_at <= sa.func.datetime(r.c.sent_at, f"+{days} days"))
    amount = a.c.data["amount"].as_float()
    row = conn.execute(
        sa.select(
            sa.func.count(sa.distinct(a.c.contact_id)), sa.func.coalesce(sa.func.sum(amount), 0)
        )
        .select_from(r.join(a, sa.and_(*cond)))
        .where(where, r.c.sent_at.is_not(None))
    ).one()
    return int(row[0] or 0), float(row[1] or 0)


def _summary(crm: CRM, conn: sa.Connection, where: Any, cost: float) -> dict[str, Any]:
    counts = _counts(conn, where)
    conversions, revenue = _conversions(crm, conn, where)
    return {
        **counts,
        "delivered_rate": _rate(counts["delivered"], counts["sent"]),
        "open_rate": _rate(counts["opened"], counts["delivered"]),
        "click_rate": _rate(counts["clicked"], counts["delivered"]),
        "bounce_rate": _rate(counts["bounced"], counts["attempted"]),
        "unsubscribe_rate": _rate(counts["unsubscribed"], counts["delivered"]),
        "conversions": conversions,
        "conversion_rate": _rate(conversions, counts["delivered"]),
        "revenue": round(revenue, 2),
        "cost": round(cost, 2),
        "roi": round(100.0 * (revenue - cost) / cost, 2) if cost else None,
    }


def _day(conn: sa.Connection, column: Any) -> Any:
    if conn.dialect.name == "postgresql":
        return sa.func.to_char(column, "YYYY-MM-DD")
    return sa.func.strftime("%Y-%m-%d", column)


def _series(conn: sa.Connection, campaign_id: int) -> list[dict[str, Any]]:
    days: dict[str, dict[str, int]] = {}
    for name in ("sent", "opened", "clicked", "bounced", "unsubscribed"):
        col = r.c[f"{name}_at"]
        day = _day(conn, col).label("day")
        for d, n in conn.execute(
            sa.select(day, sa.func.count())
            .where(r.c.campaign_id == campaign_id, col.is_not(None))
            .group_by(day)
        ).all():
            days.setdefault(str(d), {})[name] = int(n)
    return [
        {
            "date": d,
            **{k: v.get(k, 0) for k in ("sent", "opened", "clicked", "bounced", "unsubscribed")},
        }
        for d, v in sorted(days.items())
    ]


def campaign(crm: CRM, actor: Actor, campaign_id: int) -> dict[str, Any]:
    crm.permissions.require(actor, "campaigns.analytics")
    with crm.connect() as conn:
        row = _get(conn, campaign_id)
        return {
            "campaign_id": campaign_id,
            "name": row["name"],
            "status": row["status"],
            **_summary(crm, conn, r.c.campaign_id == campaign_id, row["cost"] or 0.0),
            "over_time": _series(conn, campaign_id),
        }


def per_segment(crm: CRM, actor: Actor) -> list[dict[str, Any]]:
    """Every segment some campaign targeted: the same figures over all its campaigns."""
    crm.permissions.require(actor, "campaigns.analytics")
    with crm.connect() as conn:
        rows = conn.execute(sa.select(campaigns.c.id, campaigns.c.audience, campaigns.c.cost)).all()
        groups: dict[int, tuple[list[int], float]] = {}
        for cid, audience, cost in rows:
            seg = (audience or {}).get("segment_id")
            if isinstance(seg, int):
                ids, total = groups.get(seg, ([], 0.0))
                groups[seg] = ([*ids, cid], total + (cost or 0.0))
        return [
            {
                "segment_id": seg,
                "campaign_ids": ids,
                **_summary(crm, conn, r.c.campaign_id.in_(ids), cost),
            }
            for seg, (ids, cost) in sorted(groups.items())
        ]


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """Spreadsheet formula injection: prefix text starting with = + - @ TAB CR with a quote."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def export_csv(crm: CRM, actor: Actor, campaign_id: int) -> str:
    data = campaign(crm, actor, campaign_id)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["metric", "value"])
    for key, value in data.items():
        if key != "over_time":
            writer.writerow([key, safe_cell(value if value is not None else "")])
    writer.writerow([])
    writer.writerow(["date", "sent", "opened", "clicked", "bounced", "unsubscribed"])
    for day in data["over_time"]:
        writer.writerow(
            [
                day["date"],
                day["sent"],
                day["opened"],
                day["clicked"],
                day["bounced"],
                day["unsubscribed"],
            ]
        )
    return out.getvalue()
