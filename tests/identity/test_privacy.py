"""Consent, subject access, erasure with tombstone, retention, audit redaction, on both databases."""

from __future__ import annotations

import time
from datetime import timedelta

import sqlalchemy as sa

from cultiveat_core.db import tables
from cultiveat_core.db.metadata import utcnow
from cultiveat_core.privacy.erasure import erase_contact
from cultiveat_core.services.audit import verify_chain

from .conftest import SYSTEM, audit_actions, count

ANN = {"email": "ann@example.com", "first_name": "Ann", "last_name": "Lee", "phone": "+33 1 23 45 67 89"}


def test_consent_recorded_with_source_and_opt_in_by_default(crm, client_for):
    sales = client_for("sales")
    contact = sales.post("/api/contacts", json=ANN).json()
    c = tables.contacts
    with crm.engine.connect() as conn:
        assert crm.consent.allowed(conn, [contact["id"]], "email_marketing") == set()
    granted = sales.post(f"/api/contacts/{contact['id']}/consent",
                         json={"purpose": "email_marketing", "granted": True, "source": "web form"})
    assert granted.status_code == 201, granted.text
    assert granted.json()["current"]["email_marketing"] is True
    sales.post(f"/api/contacts/{contact['id']}/consent",
               json={"purpose": "sms", "granted": False, "source": "phone call"})
    with crm.engine.connect() as conn:
        assert crm.consent.allowed(conn, [contact["id"]], "email_marketing") == {contact["id"]}
        assert crm.consent.allowed(conn, [contact["id"]], "sms") == set()
        allowed = conn.execute(sa.select(c.c.id).where(
            crm.consent.allowed_clause("email_marketing", c.c.id))).scalars().all()
        assert allowed == [contact["id"]]
    history = sales.get(f"/api/contacts/{contact['id']}/consent").json()["history"]
    assert [h["source"] for h in history] == ["web form", "phone call"]
    assert audit_actions(crm, "consent.record")
    bad = sales.post(f"/api/contacts/{contact['id']}/consent",
                     json={"purpose": "telepathy", "granted": True, "source": "x"})
    assert bad.status_code == 422 and "email_marketing" in bad.text
    extra = sales.post(f"/api/contacts/{contact['id']}/consent",
                       json={"purpose": "sms", "granted": True, "source": "x", "recorded_at": "2000-01-01"})
    assert extra.status_code == 400  # undeclared fields are refused (no mass assignment)


def test_executive_cannot_record_consent_and_denial_is_audited(crm, client_for):
    contact = crm.contacts.create(SYSTEM, ANN)
    executive = client_for("executive")
    denied = executive.post(f"/api/contacts/{contact.id}/consent",
                            json={"purpose": "sms", "granted": True, "source": "x"})
    assert denied.status_code == 403
    assert count(crm, tables.consents) == 0
    denials = audit_actions(crm, "permission.denied")
    assert denials and denials[-1]["changes"]["permission"] == "consent.manage"


def test_consent_default_granted_setting(make_crm):
    crm = make_crm(consent_default="granted")
    contact = crm.contacts.create(SYSTEM, ANN)
    with crm.engine.connect() as conn:
        assert crm.consent.allowed(conn, [contact.id], "tracking") == {contact.id}
    crm.consent.record(SYSTEM, contact.id, "tracking", False, source="cookie banner")
    with crm.engine.connect() as conn:
        assert crm.consent.allowed(conn, [contact.id], "tracking") == set()


def test_subject_access_export_and_permission(crm, client, client_for):
    contact = client.post("/api/contacts", json=ANN).json()
    client.post(f"/api/contacts/{contact['id']}/activities", json={"type": "email_opened"})
    crm.consent.record(SYSTEM, contact["id"], "email_marketing", True, source="import")
    export = client.get(f"/api/contacts/{contact['id']}/subject-access")
    assert export.status_code == 200, export.text
    body = export.json()
    assert body["contact"]["email"] == "ann@example.com"
    assert [a["type"] for a in body["activities"]] == ["email_opened"]
    assert body["consents"][0]["source"] == "import"
    assert any(r["action"] == "contact.create" for r in body["audit"])
    for role in ("marketing", "sales", "executive"):
        assert client_for(role).get(f"/api/contacts/{contact['id']}/subject-access").status_code == 403
    assert client.get("/api/contacts/999999/subject-access").status_code == 404


def test_erasure_removes_everything_keeps_tombstone_and_valid_chain(crm, client, client_for):
    contact = client.post("/api/contacts", json=ANN).json()
    cid = contact["id"]
    client.post(f"/api/contacts/{cid}/activities", json={"type": "email_opened"})
    crm.consent.record(SYSTEM, cid, "email_marketing", True, source="form")
    marketing = client_for("marketing")
    assert marketing.post(f"/api/contacts/{cid}/erase", json={"confirm": True}).status_code == 403
    assert count(crm, tables.contacts, tables.contacts.c.id == cid) == 1
    assert client.post(f"/api/contacts/{cid}/erase", json={"confirm": False}).status_code == 422
    erased = client.post(f"/api/contacts/{cid}/erase", json={"confirm": True})
    assert erased.status_code == 200, erased.text
    assert erased.json()["activities"] == 1
    assert count(crm, tables.contacts, tables.contacts.c.id == cid) == 0
    assert count(crm, tables.activities, tables.activities.c.contact_id == cid) == 0
    assert count(crm, tables.consents, tables.consents.c.contact_id == cid) == 0
    assert count(crm, tables.erasure_tombstones) == 1
    # nothing personal is left in the audit log, and the chain still verifies
    with crm.engine.connect() as conn:
        texts = [str(r) for r in conn.execute(sa.select(tables.audit_log)).all()]
        checked, problems = verify_chain(conn)
    assert not [t for t in texts if "ann@example.com" in t.lower() or "+33" in t]
    assert problems == [] and checked > 3
    assert client.get("/api/audit/verify").json()["ok"] is True
    # a re-import of the same person does not resurrect consent, even with "granted" default
    again = crm.contacts.create(SYSTEM, ANN)
    with crm.engine.connect() as conn:
        assert crm.consent.allowed(conn, [again.id], "email_marketing") == set()
    assert client.post("/api/contacts/999999/erase", json={"confirm": True}).status_code == 404


def test_audit_log_is_append_only_in_the_database(crm):
    crm.contacts.create(SYSTEM, ANN)
    t = tables.audit_log
    import pytest

    with pytest.raises(sa.exc.DBAPIError), crm.begin() as conn:
        conn.execute(t.delete())
    with pytest.raises(sa.exc.DBAPIError), crm.begin() as conn:
        conn.execute(t.update().values(action="tampered"))
    with crm.engine.connect() as conn:
        assert verify_chain(conn)[1] == []


def test_tampering_is_detected_by_verify(crm):
    crm.contacts.create(SYSTEM, ANN)
    t = tables.audit_log
    with crm.begin() as conn:  # redaction-shaped update is the only one the trigger allows
        conn.execute(t.update().values(changes={"forged": True}, redacted_at=None).where(t.c.id == -1))
    with crm.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("DROP TRIGGER core_audit_log_redact_only")
        else:
            conn.exec_driver_sql("ALTER TABLE core_audit_log DISABLE TRIGGER core_audit_log_append_only")
        conn.execute(t.update().values(changes={"email": "forged@example.com"}))
        conn.commit()
        problems = verify_chain(conn)[1]
    assert problems and "altered" in problems[0]


def test_retention_dry_run_then_erase(crm, client, run_jobs):
    old = crm.contacts.create(SYSTEM, ANN)
    fresh = crm.contacts.create(SYSTEM, {"email": "bo@example.com", "first_name": "Bo", "last_name": "Li"})
    long_ago = utcnow() - timedelta(days=8 * 365)
    c = tables.contacts
    with crm.begin() as conn:
        conn.execute(c.update().where(c.c.id == old.id).values(
            created_at=long_ago, updated_at=long_ago, last_activity_at=long_ago))
    report = client.get("/api/privacy/retention").json()
    assert report["due"] == 1 and report["sample_ids"] == [old.id]
    from cultiveat_core.privacy.retention import run_retention

    class Ctx:
        def __init__(self):
            self.crm = crm

        def progress(self, *args):
            pass

    assert run_retention(Ctx(), dry_run=True)["erased"] == 0
    assert count(crm, c) == 2
    assert run_retention(Ctx())["erased"] == 1
    assert count(crm, c, c.c.id == old.id) == 0 and count(crm, c, c.c.id == fresh.id) == 1
    assert "core.privacy_retention" in crm.registry.tasks


def test_erasure_of_a_contact_with_1000_activities(crm):
    contact = crm.contacts.create(SYSTEM, ANN)
    crm.activities.log_many(SYSTEM, [{"contact_id": contact.id, "type": "email_opened"}] * 1000)
    started = time.perf_counter()
    result = erase_contact(crm, SYSTEM, contact.id)
    elapsed = time.perf_counter() - started
    print(f"\nerasure of a contact with 1,000 activities: {elapsed * 1000:.0f} ms ({crm.engine.dialect.name})")
    assert result["activities"] == 1000
    assert elapsed < 10


def test_an_import_brings_back_only_the_erased_person_with_consent_refused(crm):
    import io

    from cultiveat_core.importing import ImportOptions, run_import

    erased = crm.contacts.create(SYSTEM, ANN)
    erase_contact(crm, SYSTEM, erased.id)
    data = (
        "Email,First Name,Last Name\n"
        + "ANN@Example.com,Ann,Lee\n"
        + "".join(f"new{i}@example.com,New,{i}\n" for i in range(30))
    ).encode()
    result = run_import(crm, SYSTEM, io.BytesIO(data), size=len(data), options=ImportOptions())
    assert result.created == 31 and result.errors == []
    crm.events.close()  # the contacts_created listeners ran after the commit
    c, consents = tables.contacts, tables.consents
    with crm.engine.connect() as conn:
        back = conn.execute(sa.select(c.c.id).where(c.c.email_key == "ann@example.com")).scalar_one()
        refused = conn.execute(
            sa.select(consents.c.contact_id).where(consents.c.source == "erasure tombstone").distinct()
        ).scalars().all()
        assert crm.consent.allowed(conn, [back], "email_marketing") == set()
    assert refused == [back]
