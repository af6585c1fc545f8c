"""Segment monitoring: size over time, entries and exits, stability, drift, campaign engagement.

Snapshots are written by every refresh and scoring run; entries and exits per day come from
the membership history; campaign engagement counts activities that carry a ``campaign_id``
in their data (what the campaigns plugin logs) for the segment's members and, as the
baseline, for every contact.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from cultiveat_core.db import tables as core
from cultiveat_core.db.metadata import utcnow
from cultiveat_segments import tables
from cultiveat_segments.exports import to_csv, to_xlsx
from cultiveat_segments.permissions import READ

if TYPE_CHECKING:
    from cultiveat_core import CRM, Actor

s, h, snap, m = tables.segments, tables.history, tables.snapshots, tables.members
a = core.activities
CAMPAIGN_TYPES = ("email_sent", "email_opened", "email_clicked", "email_replied", "purchase")


def _snapshot_dict(row: Any) -> dict[str, Any]:
    drift = row["drift"] or {}
    psi = drift.get("psi") or {}
    return {
        "taken_at": row["taken_at"].isoformat(),
        "size": row["size"],
        "entered": row["entered"],
        "left": row["left"],
        "stability": row["stability"],
        "drift": psi,
        "max_psi": max(psi.values()) if psi else None,
        "drift_alert": bool(row["drift_alert"]),
    }


def campaign_engagement(
    conn: sa.Connection, segment_id: int | None, since: Any
) -> list[dict[str, Any]]:
    campaign = a.c.data["campaign_id"].as_string()
    query = (
        sa.select(
            campaign.label("campaign_id"), a.c.type, sa.func.count(sa.distinct(a.c.contact_id))
        )
        .where(a.c.type.in_(CAMPAIGN_TYPES), a.c.occurred_at >= since, campaign.is_not(None))
        .group_by(campaign, a.c.type)
    )
    if segment_id is not None:
        query = query.where(
            a.c.contact_id.in_(sa.select(m.c.contact_id).where(m.c.segment_id == segment_id))
        )
    counts: dict[str, dict[str, int]] = {}
    for campaign_id, kind, contacts in conn.execute(query):
        counts.setdefault(str(campaign_id), {})[kind] = contacts
    result = []
    for campaign_id, c in sorted(counts.items()):
        sent = c.get("email_sent", 0)

        def rate(n: int, sent: int = sent) -> float | None:
            return round(100 * n / sent, 2) if sent else None

        result.append(
            {
                "campaign_id": campaign_id,
                "sent": sent,
                "opened": c.get("email_opened", 0),
                "clicked": c.get("email_clicked", 0),
                "replied": c.get("email_replied", 0),
                "converted": c.get("purchase", 0),
                "open_rate": rate(c.get("email_opened", 0)),
                "click_rate": rate(c.get("email_clicked", 0)),
                "conversion_rate": rate(c.get("purchase", 0)),
            }
        )
    return result


def segment_monitoring(
    crm: CRM, actor: Actor, segment_id: int, *, days: int = 90
) -> dict[str, Any]:
    crm.permissions.require(actor, READ)
    since = utcnow() - timedelta(days=days)
    with crm.engine.connect() as conn:
        segment = (
            conn.execute(
                sa.select(s.c.id, s.c.name, s.c.kind, s.c.member_count).where(s.c.id == segment_id)
            )
            .mappings()
            .first()
        )
        if segment is None:
            from cultiveat_core import NotFound

            raise NotFound(f"segment {segment_id} does not exist")
        snapshots = [
            _snapshot_dict(r)
            for r in conn.execute(
                sa.select(snap)
                .where(snap.c.segment_id == segment_id, snap.c.taken_at >= since)
                .order_by(snap.c.taken_at)
            ).mappings()
        ]
        day = sa.func.date(h.c.occurred_at)
        flows: dict[str, dict[str, int]] = {}
        for d, change, n in conn.execute(
            sa.select(day, h.c.change, sa.func.count())
            .where(h.c.segment_id == segment_id, h.c.occurred_at >= since)
            .group_by(day, h.c.change)
            .order_by(day)
        ):
            flows.setdefault(str(d), {"entered": 0, "left": 0})[change] = n
        campaigns = campaign_engagement(conn, segment_id, since)
        baseline = (
            {c["campaign_id"]: c for c in campaign_engagement(conn, None, since)}
            if campaigns
            else {}
        )
    for c in campaigns:
        base = baseline.get(c["campaign_id"], {})
        c["all_contacts"] = {k: base.get(k) for k in ("open_rate", "click_rate", "conversion_rate")}
    return {
        "segment": dict(segment),
        "days": days,
        "snapshots": snapshots,
        "flows": [{"date": d, **v} for d, v in sorted(flows.items())],
        "alerts": [x for x in snapshots if x["drift_alert"]],
        "campaigns": campaigns,
    }


def overview(crm: CRM, actor: Actor) -> dict[str, Any]:
    crm.permissions.require(actor, READ)
    latest = (
        sa.select(snap.c.segment_id, sa.func.max(snap.c.id).label("id"))
        .group_by(snap.c.segment_id)
        .subquery()
    )
    with crm.engine.connect() as conn:
        rows = (
            conn.execute(
                sa.select(s.c.id, s.c.name, s.c.kind, snap)
                .select_from(s)
                .outerjoin(latest, latest.c.segment_id == s.c.id)
                .outerjoin(snap, snap.c.id == latest.c.id)
                .order_by(s.c.name)
            )
            .mappings()
            .all()
        )
    items = []
    for row in rows:
        item = {"segment_id": row["id"], "name": row["name"], "kind": row["kind"]}
        if row["taken_at"] is not None:
            item.update(_snapshot_dict(row))
        items.append(item)
    return {"segments": items, "alerts": [i for i in items if i.get("drift_alert")]}


EXPORT_HEADER = (
    "segment_id",
    "segment",
    "kind",
    "taken_at",
    "size",
    "entered",
    "left",
    "stability",
    "max_psi",
    "drift_alert",
)


def export(crm: CRM, actor: Actor, fmt: str) -> tuple[bytes, str, str]:
    crm.permissions.require(actor, READ)
    with crm.engine.connect() as conn:
        rows = (
            conn.execute(
                sa.select(s.c.id, s.c.name, s.c.kind, snap)
                .join(snap, snap.c.segment_id == s.c.id)
                .order_by(s.c.name, snap.c.taken_at)
            )
            .mappings()
            .all()
        )
    table = []
    for row in rows:
        d = _snapshot_dict(row)
        table.append(
            (
                row["id"],
                row["name"],
                row["kind"],
                d["taken_at"],
                d["size"],
                d["entered"],
                d["left"],
                d["stability"],
                d["max_psi"],
                d["drift_alert"],
            )
        )
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    if fmt == "xlsx":
        return (
            to_xlsx(EXPORT_HEADER, table, "Segment monitoring"),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            f"segment-monitoring-{stamp}.xlsx",
        )
    return (
        to_csv(EXPORT_HEADER, table),
        "text/csv; charset=utf-8",
        f"segment-monitoring-{stamp}.csv",
    )
