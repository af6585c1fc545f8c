"""Each rule type, decay, caps, once vs repeatable, score groups, plugin conditions."""

from __future__ import annotations

import copy
from typing import Any

import cultiveat_scoring.plugin
import pytest
from cultiveat_scoring.conditions import ScoreCondition
from cultiveat_scoring.rules import default_rule_set

from cultiveat_core.crm import CRM
from cultiveat_core.markers import hookimpl

from .conftest import NOW, SYSTEM, add_contact, days_ago, log


def explain(crm: CRM, contact_id: int) -> dict[str, Any]:
    return crm.extensions["scoring"].service.explain(SYSTEM, contact_id)


def rescore(crm: CRM, *ids: int) -> None:
    crm.extensions["scoring"].service.rescore(ids, now=NOW)


def points(crm: CRM, contact_id: int) -> dict[str, float]:
    return {r["id"]: r["points"] for r in explain(crm, contact_id)["rules"]}


def only_rules(crm: CRM, rules: list[dict[str, Any]], **changes: Any) -> None:
    document = default_rule_set()
    document["rules"] = rules
    document.update(changes)
    crm.extensions["scoring"].service.save(SYSTEM, document, recompute=False)


ROLES = [
    ("CEO", 20),
    ("Chief Executive Officer", 20),
    ("Co-Founder", 20),
    ("VP of Sales", 20),
    ("Marketing Director", 20),
    ("Head of Operations", 20),
    ("Procurement Manager", 20),
    ("Sales Manager", 10),
    ("Product Manager", 10),
    ("Senior Engineer", 10),
    ("Junior Associate", 10),
    ("Barista", 10),
    (None, 10),
]
INDUSTRIES = [
    ("SaaS / Technology", 20),
    ("Utilities & Energy", 20),
    ("Fintech", 20),
    ("Government", 20),
    ("Healthcare", 20),
    ("Manufacturing", 10),
    ("Professional Services", 10),
    ("Real Estate", 10),
    ("Education", 10),
    ("Retail", 10),
    ("Media", 10),
]


def test_role_and_industry_groups_with_synonyms(crm: CRM) -> None:
    people = [
        {
            "email": f"r{i}@example.com",
            "first_name": "R",
            "last_name": "R",
            "position": p,
            "industry": "Media",
        }
        for i, (p, _) in enumerate(ROLES)
    ]
    people += [
        {"email": f"i{i}@example.com", "first_name": "I", "last_name": "I", "industry": ind}
        for i, (ind, _) in enumerate(INDUSTRIES)
    ]
    ids = [c.id for c in crm.contacts.create_many(SYSTEM, people)]
    got = crm.extensions["scoring"].service.rule_points(ids, now=NOW)
    assert [got[i]["role"] for i in ids[: len(ROLES)]] == [want for _, want in ROLES]
    assert [got[i]["industry"] for i in ids[len(ROLES) :]] == [want for _, want in INDUSTRIES]


def test_role_match_is_on_whole_words(crm: CRM) -> None:
    # "director" contains "cto" and "redirector" contains "director": neither is a C-level title
    only_rules(
        crm,
        [
            {
                "id": "cto",
                "group": "fit",
                "type": "field",
                "field": "position",
                "choices": [{"op": "has_words", "values": ["CTO"], "points": 7}],
                "otherwise": 0,
            }
        ],
    )
    a = add_contact(crm, "a@example.com", position="Director")
    b = add_contact(crm, "b@example.com", position="C.T.O / cto")
    rescore(crm, a, b)
    assert points(crm, a).get("cto") is None
    assert points(crm, b)["cto"] == 7


def test_default_engagement_points_without_decay(crm: CRM) -> None:
    document = default_rule_set()
    document["decay"] = {"mode": "none"}
    crm.extensions["scoring"].service.save(SYSTEM, document, recompute=False)
    cid = add_contact(crm, "e@example.com", position="Barista", industry="Media")
    log(
        crm,
        cid,
        [
            ("email_opened", days_ago(1)),
            ("email_clicked", days_ago(1)),
            ("webinar_attended", days_ago(2)),
            ("demo_requested", days_ago(3)),
            ("demo_scheduled", days_ago(2)),
            ("content_downloaded", days_ago(1), {"content_type": "whitepaper"}),
            ("content_downloaded", days_ago(1), {"content_type": "ebook"}),
            ("page_visit", days_ago(1), {"url": "https://x.example/pricing?plan=pro"}),
            ("page_visit", days_ago(2), {"url": "/blog"}),
            ("subscribed", days_ago(20)),
        ],
    )
    rescore(crm, cid)
    assert points(crm, cid) == {
        "role": 10,
        "industry": 10,
        "email_opened": 5,
        "email_clicked": 10,
        "webinar_attended": 15,
        "demo_or_pricing_requested": 40,
        "demo_scheduled": 40,
        "whitepaper_downloaded": 10,
        "pricing_page_visit": 20,
        "multiple_visits_week": 15,
        "subscribed": 10,
    }
    result = explain(crm, cid)
    assert result["fit"] == 20 and result["engagement"] == 165
    assert result["total"] == 100 and result["score"] == 100  # total cap
    assert result["engagement_percent"] == 100


def test_once_vs_repeatable_with_cap(crm: CRM) -> None:
    only_rules(
        crm,
        [
            {
                "id": "opens",
                "group": "engagement",
                "type": "activity",
                "activity_types": ["email_opened"],
                "points": 5,
                "repeat": "repeatable",
                "cap": 12,
            },
            {
                "id": "first_open",
                "group": "engagement",
                "type": "activity",
                "activity_types": ["email_opened"],
                "points": 3,
                "repeat": "once",
            },
            {
                "id": "clicks",
                "group": "engagement",
                "type": "activity",
                "activity_types": ["email_clicked"],
                "points": 4,
                "repeat": "repeatable",
            },
        ],
        decay={"mode": "none"},
    )
    cid = add_contact(crm, "r@example.com")
    log(
        crm,
        cid,
        [("email_opened", days_ago(i)) for i in range(1, 5)]
        + [("email_clicked", days_ago(i)) for i in range(1, 4)],
    )
    rescore(crm, cid)
    assert points(crm, cid) == {"opens": 12, "first_open": 3, "clicks": 12}


def test_half_life_decay(crm: CRM) -> None:
    only_rules(
        crm,
        [
            {
                "id": "webinar",
                "group": "engagement",
                "type": "activity",
                "activity_types": ["webinar_attended"],
                "points": 40,
                "repeat": "once",
            },
            {
                "id": "opens",
                "group": "engagement",
                "type": "activity",
                "activity_types": ["email_opened"],
                "points": 10,
                "repeat": "repeatable",
            },
            {
                "id": "timeless",
                "group": "engagement",
                "type": "activity",
                "activity_types": ["subscribed"],
                "points": 8,
                "repeat": "once",
                "decay": False,
            },
        ],
        decay={"mode": "half_life", "half_life_days": 10},
    )
    cid = add_contact(crm, "d@example.com")
    log(
        crm,
        cid,
        [
            ("webinar_attended", days_ago(10)),
            ("webinar_attended", days_ago(30)),
            ("email_opened", days_ago(0)),
            ("email_opened", days_ago(20)),
            ("subscribed", days_ago(400)),
        ],
    )
    rescore(crm, cid)
    got = points(crm, cid)
    assert got["webinar"] == pytest.approx(20, abs=0.01)  # once: the most recent, one half-life old
    assert got["opens"] == pytest.approx(10 + 2.5, abs=0.01)
    assert got["timeless"] == 8


def test_window_decay_drops_old_activity(crm: CRM) -> None:
    only_rules(
        crm,
        [
            {
                "id": "opens",
                "group": "engagement",
                "type": "activity",
                "activity_types": ["email_opened"],
                "points": 10,
                "repeat": "repeatable",
            },
        ],
        decay={"mode": "window", "window_days": 30},
    )
    cid = add_contact(crm, "w@example.com")
    log(
        crm,
        cid,
        [
            ("email_opened", days_ago(5)),
            ("email_opened", days_ago(29)),
            ("email_opened", days_ago(31)),
        ],
    )
    rescore(crm, cid)
    assert points(crm, cid) == {"opens": 20}


def test_count_in_window_rule(crm: CRM) -> None:
    only_rules(
        crm,
        [
            {
                "id": "busy_week",
                "group": "engagement",
                "type": "activity_count",
                "activity_types": ["page_visit"],
                "where": [{"property": "url", "op": "contains", "value": "/docs"}],
                "min_count": 3,
                "window_days": 7,
                "points": 15,
            },
        ],
    )
    a = add_contact(crm, "a@example.com")
    b = add_contact(crm, "b@example.com")
    log(crm, a, [("page_visit", days_ago(d), {"url": "/docs/x"}) for d in (1, 2, 6)])
    log(
        crm,
        b,
        [("page_visit", days_ago(d), {"url": "/docs/x"}) for d in (1, 2, 8)]
        + [("page_visit", days_ago(1), {"url": "/blog"})],
    )
    rescore(crm, a, b)
    assert points(crm, a) == {"busy_week": 15}
    assert points(crm, b) == {}


def test_property_operators(crm: CRM) -> None:
    only_rules(
        crm,
        [
            {
                "id": "case_study",
                "group": "engagement",
                "type": "activity",
                "activity_types": ["content_downloaded"],
                "where": [
                    {"property": "content_type", "op": "in", "value": ["case_study", "ebook"]}
                ],
                "points": 7,
                "repeat": "once",
            },
        ],
        decay={"mode": "none"},
    )
    cid = add_contact(crm, "p@example.com")
    log(crm, cid, [("content_downloaded", days_ago(1), {"content_type": "Ebook"})])
    rescore(crm, cid)
    assert points(crm, cid) == {"case_study": 7}


def test_groups_with_caps_and_out_of_total_product_groups(crm: CRM) -> None:
    document = default_rule_set()
    document["decay"] = {"mode": "none"}
    document["groups"] = [
        {"name": "fit", "part": "fit"},
        {"name": "engagement", "part": "engagement", "cap": 30},
        {"name": "product_x", "part": "engagement", "in_total": False},
    ]
    document["rules"] = [
        {
            "id": "size",
            "group": "fit",
            "type": "field",
            "field": "company_size",
            "choices": [
                {"op": "gte", "value": 1000, "points": 15},
                {"op": "between", "values": [100, 999], "points": 5},
            ],
            "otherwise": 0,
        },
        {
            "id": "opens",
            "group": "engagement",
            "type": "activity",
            "activity_types": ["email_opened"],
            "points": 10,
            "repeat": "repeatable",
        },
        {
            "id": "x_pricing",
            "group": "product_x",
            "type": "activity",
            "activity_types": ["page_visit"],
            "where": [{"property": "url", "op": "contains", "value": "/x/pricing"}],
            "points": 25,
            "repeat": "once",
        },
    ]
    crm.extensions["scoring"].service.save(SYSTEM, document, recompute=False)
    cid = add_contact(crm, "g@example.com", company_size=5000)
    log(
        crm,
        cid,
        [("email_opened", days_ago(1))] * 5 + [("page_visit", days_ago(1), {"url": "/x/pricing"})],
    )
    rescore(crm, cid)
    result = explain(crm, cid)
    assert result["groups"] == {"fit": 15, "engagement": 30, "product_x": 25}
    assert result["fit"] == 15 and result["engagement"] == 30 and result["score"] == 45


class TitlePlugin:
    """A stand-in for another plugin adding a rule condition through the hook."""

    @hookimpl
    def register_score_conditions(self) -> list[ScoreCondition]:
        return [
            ScoreCondition(
                name="email_domain",
                description="the contact's email is at params.domain",
                sql=lambda contacts, params: contacts.c.email.like(f"%@{params['domain']}"),
                validate=lambda params: (
                    [] if params.get("domain") else ["params.domain: give a domain"]
                ),
            )
        ]


def test_conditions_from_the_hook_and_the_builtin_has_tag(make_crm: Any) -> None:
    crm = make_crm(plugins=[cultiveat_scoring.plugin, TitlePlugin()], event_wait_seconds=60)
    only_rules(
        crm,
        [
            {
                "id": "enterprise",
                "group": "fit",
                "type": "condition",
                "condition": "has_tag",
                "params": {"tag": "enterprise"},
                "points": 12,
            },
            {
                "id": "acme",
                "group": "fit",
                "type": "condition",
                "condition": "email_domain",
                "params": {"domain": "acme.example"},
                "points": 3,
            },
        ],
    )
    a = add_contact(crm, "a@acme.example", tags=["Enterprise"])
    b = add_contact(crm, "b@other.example")
    rescore(crm, a, b)
    assert points(crm, a) == {"enterprise": 12, "acme": 3}
    assert points(crm, b) == {}
    with pytest.raises(Exception) as info:
        only_rules(
            crm,
            [
                {
                    "id": "bad",
                    "group": "fit",
                    "type": "condition",
                    "condition": "email_domain",
                    "params": {},
                    "points": 3,
                }
            ],
        )
    assert "params.domain" in str(info.value)


def test_default_rule_set_is_valid_and_copied(crm: CRM) -> None:
    first = default_rule_set()
    second = copy.deepcopy(first)
    first["rules"].clear()
    assert default_rule_set() == second
    assert crm.extensions["scoring"].service.validate(second)["hot_threshold"] == 90
