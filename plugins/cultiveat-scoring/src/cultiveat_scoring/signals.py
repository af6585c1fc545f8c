"""Buying signals and the priority action (seed 003's hot-lead panel), and the work-next list.

Signals come from one grouped query over the activities of the contacts asked about; the
priority action is the first entry of the rule set's ``priority_actions`` whose condition
holds. Both work on a bounded set of contacts (one contact page, or the work-next
candidates), never on everyone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from cultiveat_core.db import tables as core
from cultiveat_core.db.metadata import UTCDateTime, utcnow
from cultiveat_scoring import tables

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

a = core.activities
URGENCY_RANK = {"24hrs": 0, "48hrs": 1, "1 week": 2}
URGENCY_LEVEL = {"24hrs": "high", "48hrs": "medium", "1 week": "standard"}
BASELINE_DAYS = 30


def when_label(at: datetime | None, now: datetime) -> str | None:
    """ "Today", "Yesterday", "This week" or "N days ago", as the seed's panel shows times."""
    if at is None:
        return None
    days = (now.date() - at.date()).days
    if days <= 0:
        return "Today"
    if days == 1:
        return "Yesterday"
    if days < 7:
        return "This week"
    return f"{days} days ago"


def _facts(
    crm: CRM, ids: Sequence[int], signals: Mapping[str, Any], now: datetime
) -> dict[int, dict[str, Any]]:
    window_start = now - timedelta(days=float(signals["window_days"]))
    spike_start = now - timedelta(hours=float(signals["spike_hours"]))
    baseline_start = spike_start - timedelta(days=BASELINE_DAYS)

    def at(value: datetime) -> Any:
        return sa.literal(value, UTCDateTime)

    in_window = sa.and_(a.c.occurred_at >= at(window_start), a.c.occurred_at <= at(now))
    demo = sa.and_(in_window, a.c.type.in_(list(signals["demo_activity_types"])))
    pricing_url = sa.func.lower(a.c.data["url"].as_string()).like(
        f"%{str(signals['pricing_url_contains']).lower()}%"
    )
    pricing = sa.and_(in_window, a.c.type == "page_visit", pricing_url)
    recent = sa.and_(a.c.occurred_at >= at(spike_start), a.c.occurred_at <= at(now))
    baseline = sa.and_(a.c.occurred_at >= at(baseline_start), a.c.occurred_at < at(spike_start))
    query = (
        sa.select(
            a.c.contact_id,
            sa.func.max(sa.case((demo, a.c.occurred_at))).label("demo_at"),
            sa.func.max(sa.case((a.c.type == "demo_scheduled", a.c.occurred_at))).label(
                "scheduled_at"
            ),
            sa.func.sum(sa.case((pricing, 1), else_=0)).label("pricing_visits"),
            sa.func.max(sa.case((pricing, a.c.occurred_at))).label("pricing_at"),
            sa.func.sum(sa.case((recent, 1), else_=0)).label("recent"),
            sa.func.sum(sa.case((baseline, 1), else_=0)).label("baseline"),
        )
        .where(a.c.contact_id.in_(list(ids)), a.c.occurred_at >= at(baseline_start))
        .group_by(a.c.contact_id)
    )
    with crm.connect() as conn:
        return {r["contact_id"]: dict(r) for r in conn.execute(query).mappings()}


def _signal_list(
    fact: Mapping[str, Any], score: Mapping[str, Any], signals: Mapping[str, Any], now: datetime
) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    percent = int(score.get("engagement_percent") or 0)
    if percent >= float(signals["high_engagement_percent"]):
        found["high_engagement"] = {
            "type": "high_engagement",
            "icon": "arrow-up",
            "value": percent,
            "text": f"High engagement score ({percent}%)",
        }
    demo_at = fact.get("demo_at")
    if demo_at is not None:
        found["demo_request"] = {
            "type": "demo_request",
            "icon": "cursor",
            "text": "Clicked demo request",
            "at": demo_at.isoformat(),
            "when": when_label(demo_at, now),
        }
    visits = int(fact.get("pricing_visits") or 0)
    if visits >= int(signals["pricing_min_visits"]):
        found["pricing_visits"] = {
            "type": "pricing_visits",
            "icon": "eye",
            "count": visits,
            "text": f"Visited pricing page {visits}x",
            "when": "This week"
            if float(signals["window_days"]) <= 7
            else f"last {signals['window_days']} days",
        }
    recent, baseline = int(fact.get("recent") or 0), int(fact.get("baseline") or 0)
    hours = float(signals["spike_hours"])
    expected = baseline * hours / (BASELINE_DAYS * 24.0)
    if (
        recent >= int(signals["spike_min_activities"])
        and recent >= float(signals["spike_factor"]) * expected
    ):
        found["activity_spike"] = {
            "type": "activity_spike",
            "icon": "activity",
            "count": recent,
            "text": "Recent activity spike",
            "when": f"{hours:g}hrs",
        }
    return found


def _demo_pending(fact: Mapping[str, Any]) -> bool:
    demo_at, scheduled_at = fact.get("demo_at"), fact.get("scheduled_at")
    return demo_at is not None and (scheduled_at is None or scheduled_at < demo_at)


def priority_action(
    actions: Sequence[Mapping[str, Any]],
    found: Mapping[str, Any],
    fact: Mapping[str, Any],
    score: Mapping[str, Any],
) -> dict[str, Any] | None:
    for item in actions:
        key, value = next(iter(item["when"].items()))
        if key == "signal":
            holds = value in found and (value != "demo_request" or _demo_pending(fact))
        elif key == "hot":
            holds = bool(score.get("hot"))
        elif key == "min_score":
            holds = int(score.get("score") or 0) >= value
        else:
            holds = int(score.get("engagement_percent") or 0) >= value
        if holds:
            return {
                "action": item["action"],
                "within": item["within"],
                "urgency": URGENCY_LEVEL[item["within"]],
                "text": f"{item['action']} within {item['within']}",
            }
    return None


def signals_for(
    crm: CRM,
    ids: Sequence[int],
    document: Mapping[str, Any],
    scores: Mapping[int, Mapping[str, Any]],
    *,
    now: datetime | None = None,
) -> dict[int, dict[str, Any]]:
    """``{contact_id: {"buying_signals": [...], "priority_action": {...} | None}}``."""
    now = now or utcnow()
    signals = document["signals"]
    facts = _facts(crm, ids, signals, now) if ids else {}
    out: dict[int, dict[str, Any]] = {}
    for contact_id in ids:
        fact = facts.get(contact_id, {})
        score = scores.get(contact_id, {})
        found = _signal_list(fact, score, signals, now)
        out[contact_id] = {
            "buying_signals": list(found.values()),
            "priority_action": priority_action(document["priority_actions"], found, fact, score),
        }
    return out


def work_next(
    crm: CRM,
    document: Mapping[str, Any],
    *,
    limit: int = 20,
    owner_id: int | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Contacts to work next: most urgent priority action first, then highest score."""
    now = now or utcnow()
    s, c = tables.scores, core.contacts
    recent_since = now - timedelta(days=float(document["signals"]["window_days"]))
    query = (
        sa.select(
            s.c.contact_id,
            s.c.score,
            s.c.engagement_percent,
            s.c.hot,
            s.c.band,
            s.c.probability,
            c.c.first_name,
            c.c.last_name,
            c.c.company,
            c.c.position,
            c.c.stage,
            c.c.owner_id,
            c.c.last_activity_at,
        )
        .join(c, c.c.id == s.c.contact_id)
        .where(
            sa.or_(
                s.c.hot == sa.true(), c.c.last_activity_at >= sa.literal(recent_since, UTCDateTime)
            )
        )
        .order_by(s.c.score.desc(), s.c.contact_id)
        .limit(max(1, limit) * 5)
    )
    if owner_id is not None:
        query = query.where(c.c.owner_id == owner_id)
    with crm.connect() as conn:
        rows = {r["contact_id"]: dict(r) for r in conn.execute(query).mappings()}
    found = signals_for(crm, list(rows), document, rows, now=now)
    items = []
    for contact_id, row in rows.items():
        action = found[contact_id]["priority_action"]
        if action is None:
            continue
        items.append(
            {
                "contact_id": contact_id,
                "name": f"{row['first_name']} {row['last_name']}".strip(),
                "company": row["company"],
                "position": row["position"],
                "stage": row["stage"],
                "score": row["score"],
                "engagement_percent": row["engagement_percent"],
                "hot": bool(row["hot"]),
                "probability": row["probability"],
                "priority_action": action,
                "buying_signals": found[contact_id]["buying_signals"],
            }
        )
    items.sort(
        key=lambda i: (URGENCY_RANK[i["priority_action"]["within"]], -i["score"], i["contact_id"])
    )
    return items[:limit]
