"""A contact's reminders are in its subject-access export and gone after erasure."""

import sqlalchemy as sa


def test_subject_access_lists_the_reminders_and_erasure_deletes_them(client, crm, contact):
    url = f"/api/reminders/contacts/{contact.id}"
    assert client.post(url, json={"due_at": "2030-01-15T09:00:00Z", "note": "Call back"}).status_code == 201
    export = client.get(f"/api/contacts/{contact.id}/subject-access")
    assert export.status_code == 200, export.text
    (reminder,) = export.json()["plugins"]["cultiveat_example_reminders.plugin"]["reminders"]
    assert reminder["note"] == "Call back"
    erased = client.post(f"/api/contacts/{contact.id}/erase", json={"confirm": True})
    assert erased.status_code == 200, erased.text
    with crm.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM reminders_reminders")).scalar() == 0


def test_a_contact_without_reminders_adds_nothing_to_the_export(client, contact):
    export = client.get(f"/api/contacts/{contact.id}/subject-access")
    assert "cultiveat_example_reminders.plugin" not in export.json()["plugins"]
