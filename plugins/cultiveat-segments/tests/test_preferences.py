"""Preferences: stored and edited over the API, inferred from activities, usable in segments."""

from __future__ import annotations

from cultiveat_segments.preferences import infer_preferences

from .data import SYSTEM


def contact(crm, email="pref@example.com"):
    return crm.contacts.create(SYSTEM, {"email": email, "first_name": "P", "last_name": "Ref"})


def test_preferences_round_trip_over_the_api(client, crm):
    c = contact(crm)
    empty = client.get(f"/api/segments/preferences/{c.id}").json()
    assert empty["interests"] == [] and empty["preferred_channel"] is None
    saved = client.put(
        f"/api/segments/preferences/{c.id}",
        json={
            "interests": ["Analytics", "analytics ", "CRM"],
            "preferred_channel": "Email",
            "frequency": "weekly",
            "topics": ["pricing"],
        },
    )
    assert saved.status_code == 200, saved.text
    again = client.get(f"/api/segments/preferences/{c.id}").json()
    assert again["interests"] == ["analytics", "crm"] and again["preferred_channel"] == "email"
    assert again["sources"] == {
        "interests": "explicit",
        "preferred_channel": "explicit",
        "frequency": "explicit",
        "topics": "explicit",
    }
    client.put(f"/api/segments/preferences/{c.id}", json={"preferred_channel": "sms"})
    assert client.get(f"/api/segments/preferences/{c.id}").json()["preferred_channel"] == "sms"


def test_bad_preferences_are_refused_field_by_field(client, crm):
    c = contact(crm)
    response = client.put(
        f"/api/segments/preferences/{c.id}",
        json={
            "preferred_channel": "pigeon",
            "frequency": "hourly",
            "interests": "all",
            "colour": "blue",
        },
    )
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"preferred_channel", "frequency", "interests", "colour"}
    assert client.put("/api/segments/preferences/999999", json={}).status_code == 404


def test_only_marketing_edits_preferences(client_for, crm):
    c = contact(crm)
    assert (
        client_for("sales")
        .put(f"/api/segments/preferences/{c.id}", json={"frequency": "weekly"})
        .status_code
        == 403
    )
    assert client_for("sales").get(f"/api/segments/preferences/{c.id}").status_code == 200
    assert (
        client_for("marketing")
        .put(f"/api/segments/preferences/{c.id}", json={"frequency": "weekly"})
        .status_code
        == 200
    )


def test_preferences_are_inferred_from_activities_without_overwriting_explicit_ones(client, crm):
    a, b = contact(crm, "a@example.com"), contact(crm, "b@example.com")
    crm.activities.log_many(
        SYSTEM,
        [
            *(
                {"contact_id": a.id, "type": "email_clicked", "data": {"subject": "Spring launch"}}
                for _ in range(3)
            ),
            {"contact_id": a.id, "type": "page_visit", "data": {"url": "/pricing?x=1"}},
            {
                "contact_id": a.id,
                "type": "purchase",
                "data": {
                    "amount": 10,
                    "currency": "USD",
                    "lines": [{"product": "Analytics Pro", "quantity": 1}],
                },
            },
            *(
                {
                    "contact_id": b.id,
                    "type": "call",
                    "data": {"purpose": "Discovery", "status": "Completed"},
                }
                for _ in range(2)
            ),
        ],
    )
    client.put(f"/api/segments/preferences/{b.id}", json={"preferred_channel": "email"})
    assert infer_preferences(crm) == {"contacts": 2}
    pa = client.get(f"/api/segments/preferences/{a.id}").json()
    assert pa["preferred_channel"] == "email" and pa["sources"]["preferred_channel"] == "inferred"
    assert set(pa["interests"]) == {"analytics pro", "pricing"} and pa["topics"] == [
        "spring launch"
    ]
    assert pa["frequency"] == "monthly"
    pb = client.get(f"/api/segments/preferences/{b.id}").json()
    assert pb["preferred_channel"] == "email" and pb["sources"]["preferred_channel"] == "explicit"


def test_a_preference_change_updates_preference_segments(client, crm):
    c = contact(crm)
    seg = client.post(
        "/api/segments",
        json={
            "name": "Weekly readers",
            "definition": {
                "all": [
                    {"preference": "frequency", "op": "=", "value": "weekly"},
                    {"preference": "interests", "op": "includes", "value": "crm"},
                ]
            },
        },
    ).json()
    assert seg["member_count"] == 0
    client.put(
        f"/api/segments/preferences/{c.id}", json={"frequency": "weekly", "interests": ["CRM"]}
    )
    assert client.get(f"/api/segments/{seg['id']}").json()["member_count"] == 1
