"""Timeline, activity validation, notes (permissions and history), bulk logging and its events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cultiveat_core.markers import hookimpl

from .conftest import person


def test_timeline_newest_first_25_per_page_with_cursor_and_type_filter(
    client, crm, system, samples
):
    contact_id = samples[0].id
    start = datetime(2024, 1, 1, tzinfo=UTC)
    items = [
        {
            "contact_id": contact_id,
            "type": "email_opened" if i % 3 else "page_visit",
            "occurred_at": start + timedelta(hours=i),
            "data": {"url": "/pricing"} if i % 3 == 0 else {},
        }
        for i in range(60)
    ]
    crm.activities.log_many(system, items)
    first = client.get(f"/api/contacts/{contact_id}/activities").json()
    assert len(first["items"]) == 25 and first["next_cursor"]
    times = [a["occurred_at"] for a in first["items"]]
    assert times == sorted(times, reverse=True)
    second = client.get(
        f"/api/contacts/{contact_id}/activities", params={"cursor": first["next_cursor"]}
    ).json()
    assert second["items"][0]["occurred_at"] < times[-1]
    visits = client.get(
        f"/api/contacts/{contact_id}/activities", params={"type": "page_visit", "limit": 200}
    ).json()
    assert {a["type"] for a in visits["items"]} == {"page_visit"} and len(visits["items"]) == 20
    assert (
        client.get(
            f"/api/contacts/{contact_id}/activities", params={"type": "telepathy"}
        ).status_code
        == 422
    )


def test_call_and_note_rules_of_seed_003(client, samples):
    url = f"/api/contacts/{samples[0].id}/activities"
    call = client.post(
        url, json={"type": "call", "data": {"purpose": "Discovery Call", "status": "Completed"}}
    )
    assert call.status_code == 201 and call.json()["data"]["purpose"] == "Discovery"
    assert abs(datetime.fromisoformat(call.json()["occurred_at"]) - datetime.now(UTC)) < timedelta(
        minutes=1
    )
    bad = client.post(
        url,
        json={"type": "call", "data": {"purpose": "Chat", "status": "Done", "notes": "x" * 1001}},
    )
    assert {e["field"] for e in bad.json()["errors"]} == {
        "data.purpose",
        "data.status",
        "data.notes",
    }
    assert client.post(url, json={"type": "note", "data": {"text": "y" * 2001}}).status_code == 422
    purchase = client.post(
        url,
        json={
            "type": "purchase",
            "data": {
                "amount": "99.5",
                "currency": "eur",
                "lines": [{"product": "Plan", "quantity": 1}],
            },
        },
    )
    assert purchase.json()["data"]["currency"] == "EUR"


def test_note_edit_delete_permissions_and_history(client_for, crm, system):
    author, owner, other, admin = (client_for(r) for r in ("sales", "sales", "sales", "admin"))
    contact = owner.post("/api/contacts", json=person(1)).json()
    note = author.post(
        f"/api/contacts/{contact['id']}/activities",
        json={"type": "note", "data": {"text": "first", "note_type": "Sales"}},
    ).json()
    url = f"/api/contacts/{contact['id']}/activities/{note['id']}"
    assert other.patch(url, json={"text": "hijack"}).status_code == 403
    assert author.patch(url, json={"text": "second"}).status_code == 200
    assert owner.patch(url, json={"text": "third"}).status_code == 200
    assert owner.delete(url).status_code == 403  # the owner may edit, not delete
    history = admin.get(url + "/history").json()["items"]
    assert [h["data"]["text"] for h in history] == ["second", "first"]
    assert all(h["edited_by"] and h["edited_at"] for h in history)
    assert author.delete(url).status_code == 204
    assert admin.get(url + "/history").status_code == 404


class Recorder:
    def __init__(self):
        self.batches = []
        self.singles = 0

    @hookimpl
    def activities_logged(self, activities):
        self.batches.append(len(activities))

    @hookimpl
    def activity_logged(self, activity):
        self.singles += 1


def test_bulk_logging_fires_the_batch_event_once(make_crm, system):
    recorder = Recorder()
    crm = make_crm(plugins=[recorder])
    contact = crm.contacts.create(system, person(1))
    crm.activities.log_many(system, [{"contact_id": contact.id, "type": "email_sent"}] * 30)
    assert recorder.batches == [30] and recorder.singles == 30
    assert crm.contacts.get(system, contact.id).last_activity_at is not None


def test_bulk_activities_endpoint(client, samples):
    response = client.post(
        "/api/activities/bulk",
        json={
            "items": [
                {"contact_id": samples[0].id, "type": "webinar_attended"},
                {
                    "contact_id": samples[1].id,
                    "type": "content_downloaded",
                    "data": {"content_type": "whitepaper"},
                },
            ]
        },
    )
    assert response.status_code == 201 and response.json()["count"] == 2
    bad = client.post(
        "/api/activities/bulk", json={"items": [{"contact_id": samples[0].id, "type": "nope"}]}
    )
    assert bad.status_code == 422


def test_last_activity_at_follows_the_newest_activity_and_never_goes_back(crm, system):
    from datetime import UTC, datetime, timedelta

    first, second, third = (crm.contacts.create(system, person(i)) for i in (61, 62, 63))
    base = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    crm.activities.log_many(
        system,
        [
            {"contact_id": first.id, "type": "note", "occurred_at": base, "data": {"text": "a"}},
            {"contact_id": first.id, "type": "email_sent", "occurred_at": base + timedelta(days=2)},
            {"contact_id": second.id, "type": "email_sent", "occurred_at": base - timedelta(days=5)},
            {"contact_id": first.id, "type": "email_sent", "occurred_at": base + timedelta(days=1)},
        ],
    )
    assert crm.contacts.get(system, first.id).last_activity_at == base + timedelta(days=2)
    assert crm.contacts.get(system, second.id).last_activity_at == base - timedelta(days=5)
    assert crm.contacts.get(system, third.id).last_activity_at is None
    # an older activity logged later does not move it back; a newer one moves it on
    crm.activities.log_many(
        system,
        [
            {"contact_id": first.id, "type": "email_sent", "occurred_at": base},
            {"contact_id": second.id, "type": "email_sent", "occurred_at": base},
        ],
    )
    assert crm.contacts.get(system, first.id).last_activity_at == base + timedelta(days=2)
    assert crm.contacts.get(system, second.id).last_activity_at == base
    assert crm.contacts.get(system, third.id).last_activity_at is None
