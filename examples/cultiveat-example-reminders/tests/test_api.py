"""Creating and listing reminders over HTTP: validation, permissions, audit."""

import sqlalchemy as sa

from cultiveat_core.db import tables


def count_reminders(crm):
    with crm.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM reminders_reminders")).scalar()


def test_create_then_list_a_contacts_reminders(client, contact):
    url = f"/api/reminders/contacts/{contact.id}"
    later = client.post(url, json={"due_at": "2031-05-01T09:00:00Z", "note": "Renewal call"})
    sooner = client.post(url, json={"due_at": "2030-01-15T09:00:00+01:00", "note": " Send the quote "})
    assert later.status_code == 201, later.text
    assert sooner.json()["note"] == "Send the quote"
    assert sooner.json()["due_at"] == "2030-01-15T08:00:00+00:00"
    assert sooner.json()["sent_at"] is None
    listed = client.get(url)
    assert listed.status_code == 200
    assert [r["note"] for r in listed.json()["items"]] == ["Send the quote", "Renewal call"]


def test_every_problem_is_listed_with_what_to_fix_and_nothing_is_written(client, crm, contact):
    response = client.post(f"/api/reminders/contacts/{contact.id}",
                           json={"due_at": "next tuesday", "note": "", "colour": "red"})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"] == [
        {"field": "colour", "message": "unknown field; send only due_at, note"},
        {"field": "due_at", "message": "'next tuesday' is not an ISO 8601 time; write it like 2030-01-15T09:00:00Z"},
        {"field": "note", "message": "note is required: what to remember (at most 500 characters)"},
    ]
    assert count_reminders(crm) == 0


def test_missing_due_at_and_a_too_long_note(client, contact):
    response = client.post(f"/api/reminders/contacts/{contact.id}", json={"note": "x" * 501})
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "due_at", "message": "due_at is required: an ISO 8601 time such as 2030-01-15T09:00:00Z"},
        {"field": "note", "message": "must be at most 500 characters (got 501)"},
    ]


def test_a_body_that_is_not_an_object_is_a_422(client, contact):
    response = client.post(f"/api/reminders/contacts/{contact.id}", json=["due_at"])
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body"


def test_an_unknown_contact_is_a_404(client, crm):
    response = client.post("/api/reminders/contacts/987654", json={"due_at": "2030-01-15T09:00:00Z", "note": "x"})
    assert response.status_code == 404
    assert "987654" in response.json()["detail"]
    assert client.get("/api/reminders/contacts/987654").status_code == 404
    assert count_reminders(crm) == 0


def test_a_role_without_reminders_manage_cannot_create_but_can_read(client_for, crm, contact):
    executive = client_for("executive")
    url = f"/api/reminders/contacts/{contact.id}"
    denied = executive.post(url, json={"due_at": "2030-01-15T09:00:00Z", "note": "Call"})
    assert denied.status_code == 403
    assert "reminders.manage" in denied.json()["detail"]
    assert count_reminders(crm) == 0
    assert executive.get(url).status_code == 200


def test_sales_hold_the_permission_by_default(client_for, contact):
    sales = client_for("sales")
    created = sales.post(f"/api/reminders/contacts/{contact.id}", json={"due_at": "2030-01-15T09:00:00Z",
                                                                         "note": "Call"})
    assert created.status_code == 201, created.text


def test_the_service_checks_the_permission_too(crm, contact):
    import pytest
    from cultiveat_example_reminders.service import reminders_service

    from cultiveat_core import PermissionDenied

    executive = crm.users.actor_for(crm.users.create(crm_system(), "exec@example.com", "executive"))
    with pytest.raises(PermissionDenied):
        reminders_service(crm).create(executive, contact.id, {"due_at": "2030-01-15T09:00:00Z", "note": "x"})


def crm_system():
    from cultiveat_core import Actor

    return Actor.system("tests")


def test_creating_a_reminder_is_audited(client, crm, contact):
    created = client.post(f"/api/reminders/contacts/{contact.id}",
                          json={"due_at": "2030-01-15T09:00:00Z", "note": "Call back"}).json()
    audit = tables.audit_log
    with crm.connect() as conn:
        row = conn.execute(sa.select(audit).where(audit.c.action == "reminder.create")).mappings().one()
    assert row["object_type"] == "reminder"
    assert row["object_id"] == str(created["id"])
    assert row["changes"]["after"]["note"] == "Call back"
    assert row["actor"].startswith("admin-")
