"""Seed 003's sample contacts under the default rules."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from cultiveat_scoring import tables

from cultiveat_core.crm import CRM
from cultiveat_core.demo import load_demo


def _by_email(crm: CRM) -> dict[str, dict[str, Any]]:
    from cultiveat_core.db import tables as core

    c, s = core.contacts, tables.scores
    with crm.connect() as conn:
        rows = (
            conn.execute(sa.select(c.c.email, s).join(s, s.c.contact_id == c.c.id)).mappings().all()
        )
    return {r["email"]: dict(r) for r in rows}


def test_seed_contacts_score_as_the_seed_implies(crm: CRM, client: Any) -> None:
    load_demo(crm, count=0)  # the four sample contacts and their activities, scored on commit
    scores = _by_email(crm)
    david = scores["d.thompson@futuretech.net"]
    emily = scores["emily.r@growthco.com"]
    michael = scores["m.chen@innovatetech.io"]
    sarah = scores["sarah.johnson@techcorp.com"]
    # David: CEO (+20) in SaaS (+20), demo requested yesterday, pricing page 8x this week -> hot
    assert david["hot"] and david["score"] >= 90
    assert david["fit"] == 40
    assert david["engagement_percent"] >= 90
    # Michael (CTO, demo scheduled + pricing discussed 8 days ago) is qualified, not hot, above Emily
    assert not michael["hot"] and 70 <= michael["score"] < 90
    assert not emily["hot"] and emily["score"] < michael["score"]
    assert emily["fit"] == 30  # Marketing Director (+20), Professional Services (+10)
    explanation = client.get(f"/api/scoring/contacts/{david['contact_id']}").json()
    assert {"fit", "engagement", "total", "engagement_percent", "hot", "rules"} <= set(explanation)
    fired = {r["id"]: r for r in explanation["rules"]}
    assert fired["role"]["matched"] == "Decision maker" and fired["role"]["points"] == 20
    assert fired["pricing_page_visit"]["count"] == 8
    assert fired["demo_or_pricing_requested"]["when"] is not None
    signals = {s["type"]: s for s in explanation["buying_signals"]}
    assert signals["demo_request"]["when"] == "Yesterday"
    assert signals["pricing_visits"]["text"] == "Visited pricing page 8x"
    assert signals["pricing_visits"]["when"] == "This week"
    assert "activity_spike" in signals and signals["activity_spike"]["when"] == "48hrs"
    assert signals["high_engagement"]["text"].startswith("High engagement score (")
    assert explanation["priority_action"]["text"] == "Schedule demo within 24hrs"
    assert explanation["priority_action"]["urgency"] == "high"
    # Sarah's stage is Hot Lead: the seed's hot-lead panel shows for her too (secondary trigger)
    sarah_view = client.get(f"/api/scoring/contacts/{sarah['contact_id']}").json()
    assert sarah_view["hot_lead_panel"] is True
