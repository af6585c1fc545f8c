"""The public API other plugins use: streamed members, one-contact matching, scoring fields."""

from __future__ import annotations

import cultiveat_segments.plugin
import pytest
from cultiveat_segments import api
from cultiveat_segments.plugin import service

from cultiveat_core import ContactField, ValidationError, hookimpl

from .data import SYSTEM


def test_members_are_streamed_in_ascending_batches(crm):
    contacts = crm.contacts.create_many(
        SYSTEM,
        [
            {
                "email": f"m{i}@example.com",
                "first_name": "M",
                "last_name": str(i),
                "company_size": 10 * i,
            }
            for i in range(23)
        ],
    )
    seg = service(crm).create(
        SYSTEM,
        {"name": "Not tiny", "definition": {"field": "company_size", "op": ">=", "value": 30}},
    )
    batches = list(api.iter_member_ids(crm, seg["id"], batch_size=7))
    assert [len(b) for b in batches] == [7, 7, 6]
    assert [i for b in batches for i in b] == [c.id for c in contacts[3:]]
    assert api.find_segment(crm, "Not tiny")["member_count"] == 20
    assert [s["name"] for s in api.segments_of(crm, contacts[5].id)] == ["Not tiny"]


def test_matches_tests_one_contact_against_an_unsaved_definition(crm):
    c = crm.contacts.create(
        SYSTEM,
        {
            "email": "one@example.com",
            "first_name": "O",
            "last_name": "Ne",
            "position": "Chief Revenue Officer",
            "company_size": 2000,
        },
    )
    crm.activities.log(SYSTEM, c.id, "demo_requested")
    assert api.matches(
        crm,
        {"all": [{"field": "position", "op": "is_c_level"}, {"activity": "demo_requested"}]},
        c.id,
    )
    assert not api.matches(crm, {"not": {"field": "company_size", "op": ">", "value": 1000}}, c.id)
    with pytest.raises(ValidationError, match=r"definition\.op"):
        api.matches(crm, {"field": "company_size", "op": "~"}, c.id)


class FakeScoring:
    """Stands in for the scoring plugin: it registers score fields the way that plugin does."""

    @hookimpl
    def register_contact_fields(self, crm):
        return [
            ContactField(name="score", label="Score", expression=lambda c: c.c.company_size / 20),
            ContactField(
                name="engagement_percent",
                label="Engagement",
                expression=lambda c: c.c.company_size / 10,
            ),
        ]


def test_templates_evaluate_registered_score_fields_when_a_plugin_provides_them(make_crm):
    crm = make_crm(plugins=[cultiveat_segments.plugin, FakeScoring()])
    crm.contacts.create_many(
        SYSTEM,
        [
            {"email": "hi@example.com", "first_name": "H", "last_name": "I", "company_size": 2000},
            {"email": "lo@example.com", "first_name": "L", "last_name": "O", "company_size": 500},
        ],
    )
    results = {r["name"]: r for r in service(crm).refresh(SYSTEM)}
    assert results["High Value Prospects"]["skipped"] is None
    segments = {s["name"]: s for s in service(crm).list(SYSTEM)}
    assert segments["High Value Prospects"]["status"] == "active"
    assert segments["High Value Prospects"]["member_count"] == 1  # score 100 > 80 and size > 100
    assert segments["Product Champions"]["member_count"] == 0  # no demo requested yet
