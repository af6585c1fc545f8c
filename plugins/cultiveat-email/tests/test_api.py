"""``/api/email/...``, permissions, the CLI and the privacy hooks."""

from click.testing import CliRunner

from cultiveat_core import Actor
from cultiveat_core.cli import build_cli

SYSTEM = Actor.system("tests")


def test_test_email_goes_through_a_job(crm, client, run_jobs, sink):
    response = client.post("/api/email/test", json={"to": "me@example.com"})
    assert response.status_code == 202, response.text
    assert sink.messages == []  # never inside the request
    assert run_jobs() == 1
    job = client.get(f"/api/jobs/{response.json()['job_id']}").json()
    assert job["status"] == "done" and job["result"]["status"] == "sent"
    assert len(sink.to("me@example.com")) == 1
    outbox = client.get("/api/email/messages").json()
    assert outbox[0]["to_address"] == "me@example.com" and outbox[0]["status"] == "sent"


def test_test_email_validates_its_input(client):
    assert client.post("/api/email/test", json={}).status_code == 422
    bad = client.post("/api/email/test", json={"to": "not-an-address"})
    assert bad.status_code == 422 and "valid email" in bad.text


def test_roles(client_for):
    sales = client_for("sales")
    assert sales.post("/api/email/test", json={"to": "me@example.com"}).status_code == 403
    assert sales.get("/api/email/messages").status_code == 200
    assert (
        client_for("marketing")
        .post("/api/email/suppressions", json={"address": "x@example.com"})
        .status_code
        == 201
    )


def test_suppression_list_crud_is_audited(crm, client):
    assert (
        client.post(
            "/api/email/suppressions", json={"address": "X@Example.com", "reason": "phone"}
        ).status_code
        == 201
    )
    assert [s["address"] for s in client.get("/api/email/suppressions").json()] == ["x@example.com"]
    assert client.delete("/api/email/suppressions/x@example.com").status_code == 204
    assert client.delete("/api/email/suppressions/x@example.com").status_code == 404
    for bad in ("not-an-address", "%20"):  # answered 500 before (the parser crashed)
        refused = client.delete(f"/api/email/suppressions/{bad}")
        assert refused.status_code in (400, 422) and "address" in refused.text, refused.text
    import sqlalchemy as sa

    from cultiveat_core.db import tables

    with crm.connect() as conn:
        actions = conn.execute(sa.select(tables.audit_log.c.action)).scalars().all()
    assert "email.suppress" in actions and "email.unsuppress" in actions


def test_settings_never_show_secrets(make_crm, email_env):
    import cultiveat_email.plugin
    from cultiveat_email import admin

    crm = make_crm(
        plugins=[cultiveat_email.plugin],
        environ={
            **email_env,
            "CULTIVEAT_EMAIL_SMTP_URL": "smtp://u:topsecret@mail.example.com:587?starttls=1",
        },
    )
    described = admin.describe(crm, SYSTEM)
    assert described["starttls"] and described["auth"] and described["smtp_port"] == 587
    assert "topsecret" not in str(described) and "whsec" not in str(described)


def test_cli_email_test(crm, sink):
    result = CliRunner().invoke(
        build_cli(crm), ["email", "test", "--to", "cli@example.com"], obj=crm
    )
    assert result.exit_code == 0, result.output
    assert '"status": "sent"' in result.output
    assert len(sink.to("cli@example.com")) == 1


def test_subject_access_and_erasure(crm, sink):
    from cultiveat_email import plugin
    from cultiveat_email.delivery import service

    ann = crm.contacts.create(
        SYSTEM, {"email": "ann@example.com", "first_name": "Ann", "last_name": "Lee"}
    )
    service(crm).deliver(
        [{"key": "k", "contact_id": ann.id, "to": ann.email, "subject": "S", "text": "t"}]
    )
    data = plugin.contact_data_for_subject_access(crm=crm, contact=ann)
    assert data["email_messages"][0]["subject"] == "S"
    plugin.erase_contact_data(crm=crm, contact=ann)
    assert plugin.contact_data_for_subject_access(crm=crm, contact=ann) == {"email_messages": []}
