"""The default rule set, taken from seed 003's "Contact Scoring" section.

Fit (who they are): decision-maker roles +20, influencers +10, everyone else 10; core industries
20, secondary industries 10, everyone else 10. Engagement (what they do): opened email +5,
clicked +10, webinar +15, requested demo / pricing +40, scheduled a demo 40, downloaded a
whitepaper +10, visited the pricing page +20, multiple visits in a week +15, subscribed 10.
"+N" in the seed is read as "per occurrence" (repeatable, with a cap so a burst cannot buy a
hot lead alone); a plain "N" as "once". Engagement decays with a 10-day half-life: the seed
calls it "are they showing interest now?".
"""

from __future__ import annotations

import copy
from typing import Any

# Titles are matched as whole words after lower-casing and turning punctuation into spaces,
# so "Chief Executive Officer", "C.E.O." -> "c e o" is not needed but "CEO" and "VP, Sales" are.
DECISION_MAKER_TITLES = [
    # C-level, with the spelled-out synonyms
    "ceo", "coo", "cfo", "cto", "cio", "cmo", "cro", "cpo", "c level", "c suite", "chief",
    "chief executive officer", "chief operating officer", "chief financial officer",
    "chief technology officer", "chief information officer", "chief marketing officer",
    "president", "owner", "managing director", "general manager",
    # founders
    "founder", "co founder", "cofounder",
    # vice presidents / directors
    "vp", "svp", "evp", "avp", "vice president", "director",
    # heads of department / business units
    "head", "head of", "bu head", "department head",
    # procurement / purchasing
    "procurement manager", "purchasing manager", "procurement", "purchasing", "buyer",
]
INFLUENCER_TITLES = [
    "manager", "team lead", "lead", "supervisor",
    "product manager", "program manager", "project manager", "product owner",
    "advisor", "adviser", "consultant",
    "senior", "specialist", "engineer", "architect", "analyst",
    "junior", "associate", "assistant",
    "friend", "community",
]
CORE_INDUSTRIES = [
    "utilities", "utility", "energy", "electric", "electricity", "water", "gas", "power",
    "saas", "software", "technology", "tech", "it services",
    "financial", "finance", "fintech", "banking", "bank", "insurance",
    "government", "public sector", "public administration",
    "healthcare", "health care", "health", "life sciences", "pharma", "pharmaceutical", "biotech", "medical",
]
SECONDARY_INDUSTRIES = [
    "manufacturing", "industrial",
    "professional services", "consulting", "agency", "agencies",
    "real estate", "construction", "property",
    "education", "edtech", "school", "university",
    "retail", "consumer services", "ecommerce", "e commerce",
]

_DEFAULT: dict[str, Any] = {
    "name": "Seed 003 contact scoring",
    "total_cap": 100,
    "engagement_ceiling": 100,
    "decay": {"mode": "half_life", "half_life_days": 10},
    "hot_threshold": 90,
    "bands": [
        {"name": "hot", "min": 90},
        {"name": "warm", "min": 70},
        {"name": "nurturing", "min": 50},
        {"name": "cold", "min": 0},
    ],
    "groups": [
        {"name": "fit", "part": "fit", "cap": None, "in_total": True},
        {"name": "engagement", "part": "engagement", "cap": None, "in_total": True},
    ],
    "rules": [
        {"id": "role", "label": "Role", "group": "fit", "type": "field", "field": "position",
         "choices": [
             {"label": "Decision maker", "op": "has_words", "values": DECISION_MAKER_TITLES, "points": 20},
             {"label": "Influencer", "op": "has_words", "values": INFLUENCER_TITLES, "points": 10},
         ],
         "otherwise": 10},
        {"id": "industry", "label": "Industry", "group": "fit", "type": "field", "field": "industry",
         "choices": [
             {"label": "Core industry", "op": "has_words", "values": CORE_INDUSTRIES, "points": 20},
             {"label": "Secondary industry", "op": "has_words", "values": SECONDARY_INDUSTRIES, "points": 10},
         ],
         "otherwise": 10},
        {"id": "email_opened", "label": "Opened email", "group": "engagement", "type": "activity",
         "activity_types": ["email_opened"], "points": 5, "repeat": "repeatable", "cap": 15},
        {"id": "email_clicked", "label": "Clicked email link", "group": "engagement", "type": "activity",
         "activity_types": ["email_clicked"], "points": 10, "repeat": "repeatable", "cap": 30},
        {"id": "webinar_attended", "label": "Attended webinar", "group": "engagement", "type": "activity",
         "activity_types": ["webinar_attended"], "points": 15, "repeat": "repeatable", "cap": 30},
        {"id": "demo_or_pricing_requested", "label": "Requested demo / pricing", "group": "engagement",
         "type": "activity", "activity_types": ["demo_requested", "pricing_requested"], "points": 40,
         "repeat": "repeatable", "cap": 80},
        {"id": "demo_scheduled", "label": "Scheduled a demo", "group": "engagement", "type": "activity",
         "activity_types": ["demo_scheduled"], "points": 40, "repeat": "once"},
        {"id": "whitepaper_downloaded", "label": "Downloaded whitepaper", "group": "engagement",
         "type": "activity", "activity_types": ["content_downloaded"],
         "where": [{"property": "content_type", "op": "equals", "value": "whitepaper"}],
         "points": 10, "repeat": "repeatable", "cap": 20},
        {"id": "pricing_page_visit", "label": "Visited pricing page", "group": "engagement", "type": "activity",
         "activity_types": ["page_visit"], "where": [{"property": "url", "op": "contains", "value": "/pricing"}],
         "points": 20, "repeat": "repeatable", "cap": 40},
        {"id": "multiple_visits_week", "label": "Multiple visits in a week", "group": "engagement",
         "type": "activity_count", "activity_types": ["page_visit"], "min_count": 2, "window_days": 7,
         "points": 15},
        {"id": "subscribed", "label": "Subscribed", "group": "engagement", "type": "activity",
         "activity_types": ["subscribed"], "points": 10, "repeat": "once"},
    ],
    "signals": {
        "high_engagement_percent": 70,
        "window_days": 7,
        "demo_activity_types": ["demo_requested"],
        "pricing_url_contains": "/pricing",
        "pricing_min_visits": 2,
        "spike_hours": 48,
        "spike_min_activities": 3,
        "spike_factor": 3.0,
    },
    "priority_actions": [
        {"action": "Schedule demo", "within": "24hrs", "when": {"signal": "demo_request"}},
        {"action": "Send pricing proposal", "within": "48hrs", "when": {"signal": "pricing_visits"}},
        {"action": "Call", "within": "24hrs", "when": {"hot": True}},
        {"action": "Follow up", "within": "48hrs", "when": {"signal": "activity_spike"}},
        {"action": "Follow up", "within": "1 week", "when": {"min_engagement_percent": 50}},
    ],
}


def default_rule_set() -> dict[str, Any]:
    """A fresh copy of the default rule set (callers may change it)."""
    return copy.deepcopy(_DEFAULT)
