"""Inbound replies and DSN bounces (signed webhook) and ESP delivery events."""

import json
import time

import sqlalchemy as sa
from cultiveat_email.delivery import service
from cultiveat_email.signatures import sign
from cultiveat_email.tables import suppressions

from cultiveat_core import Actor

SYSTEM = Actor.system("tests")
SECRET = "whsec-test"


def contact(crm, email="ann@example.com"):
    return crm.contacts.create(SYSTEM, {"email": email, "first_name": "Ann", "last_name": "Lee"})


def signed(body: bytes, secret=SECRET, ts=None):
    ts = str(int(time.time()) if ts is None else ts)
    return {"X-Cultiveat-Timestamp": ts, "X-Cultiveat-Signature": sign(secret, ts, body)}


def sent_to(crm, c):
    return service(crm).deliver(
        [
            {
                "key": "campaign:7",
                "contact_id": c.id,
                "to": c.email,
                "subject": "Offer",
                "text": "hi",
                "meta": {"campaign_id": 7},
            }
        ]
    )[0]


DSN = """From: MAILER-DAEMON@mx.example.com
To: crm@cultiveat.test
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn-1@mx.example.com>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

Your message could not be delivered.
--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.com

Final-Recipient: rfc822; {to}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 user unknown

--B
Content-Type: text/rfc822-headers

Message-ID: {mid}
Subject: Offer

--B--
"""


def test_a_dsn_bounce_is_logged_on_the_contact_and_suppresses_the_address(crm, client, sink):
    ann = contact(crm)
    result = sent_to(crm, ann)
    body = DSN.format(to=ann.email, mid=result["message_id"]).replace("\n", "\r\n").encode()
    response = client.post("/email/webhooks/inbound", content=body, headers=signed(body))
    assert response.status_code == 200, response.text
    assert response.json() == {"kind": "bounce"}
    [bounce] = crm.activities.timeline(SYSTEM, ann.id, types=["email_bounced"])
    assert bounce.data["campaign_id"] == 7
    assert bounce.data["status"] == "5.1.1"
    with crm.connect() as conn:
        assert conn.execute(sa.select(suppressions.c.address)).scalars().all() == [
            "ann@example.com"
        ]
    # the same DSN delivered twice is processed once
    client.post("/email/webhooks/inbound", content=body, headers=signed(body))
    assert len(crm.activities.timeline(SYSTEM, ann.id, types=["email_bounced"])) == 1


def test_a_reply_is_logged_as_email_replied_on_the_right_contact(crm, client, sink):
    ann = contact(crm)
    result = sent_to(crm, ann)
    body = (
        f"From: Ann Lee <ann@example.com>\r\nTo: crm@cultiveat.test\r\nSubject: Re: Offer\r\n"
        f"Message-ID: <reply-1@example.com>\r\nIn-Reply-To: {result['message_id']}\r\n\r\n"
        "Yes please, call me tomorrow.\r\n"
    ).encode()
    response = client.post("/email/webhooks/inbound", content=body, headers=signed(body))
    assert response.json() == {"kind": "reply"}
    [reply] = crm.activities.timeline(SYSTEM, ann.id, types=["email_replied"])
    assert reply.data["direction"] == "inbound"
    assert reply.data["in_reply_to"] == result["message_id"]
    assert reply.data["campaign_id"] == 7
    assert reply.data["snippet"].startswith("Yes please")


def test_webhooks_reject_bad_stale_or_missing_signatures(crm, app):
    from litestar.testing import TestClient

    body = b"From: x@example.com\r\n\r\nhi"
    with TestClient(app) as anonymous:
        assert anonymous.post("/email/webhooks/inbound", content=body).status_code == 401
        bad = anonymous.post(
            "/email/webhooks/inbound", content=body, headers=signed(body, secret="wrong")
        )
        assert bad.status_code == 401
        assert "signature" in bad.json()["detail"]
        stale = anonymous.post(
            "/email/webhooks/inbound", content=body, headers=signed(body, ts=1000)
        )
        assert stale.status_code == 401
        tampered = anonymous.post(
            "/email/webhooks/inbound", content=body + b"!", headers=signed(body)
        )
        assert tampered.status_code == 401


def test_webhooks_are_off_without_a_secret(make_crm, email_env):
    import cultiveat_email.plugin
    from litestar.testing import TestClient

    from cultiveat_core.web import create_app

    env = {k: v for k, v in email_env.items() if k != "CULTIVEAT_EMAIL_WEBHOOK_SECRET"}
    crm = make_crm(plugins=[cultiveat_email.plugin], environ=env)
    with TestClient(create_app(crm, run_jobs=False)) as anonymous:
        response = anonymous.post(
            "/email/webhooks/esp/generic", content=b"{}", headers=signed(b"{}")
        )
    assert response.status_code == 503
    assert "CULTIVEAT_EMAIL_WEBHOOK_SECRET" in response.json()["detail"]


def test_esp_events_become_activities_suppressions_and_unsubscribes(crm, client, sink):
    ann, bo, cy = contact(crm), contact(crm, "bo@example.com"), contact(crm, "cy@example.com")
    mid = sent_to(crm, ann)["message_id"]
    events = {
        "events": [
            {"type": "delivered", "message_id": mid, "timestamp": "2026-11-23T10:00:00Z"},
            {"type": "opened", "message_id": mid},
            {"type": "clicked", "message_id": mid, "url": "https://cultiveat.test/pricing"},
            {"type": "bounced", "email": "bo@example.com", "reason": "mailbox full"},
            {"type": "complained", "email": "cy@example.com"},
            {"type": "unsubscribed", "message_id": mid},
            {"type": "delivered", "email": "nobody@example.com"},
        ]
    }
    body = json.dumps(events).encode()
    response = client.post("/email/webhooks/esp/generic", content=body, headers=signed(body))
    assert response.status_code == 200, response.text
    assert response.json() == {"applied": 6, "unmatched": 1}
    types = {a.type for a in crm.activities.timeline(SYSTEM, ann.id)}
    assert {"email_delivered", "email_opened", "email_clicked", "unsubscribed"} <= types
    clicked = crm.activities.timeline(SYSTEM, ann.id, types=["email_clicked"])[0]
    assert (
        clicked.data["campaign_id"] == 7 and clicked.data["url"] == "https://cultiveat.test/pricing"
    )
    assert crm.activities.timeline(SYSTEM, cy.id)[0].type == "unsubscribed"
    assert "email_bounced" in {a.type for a in crm.activities.timeline(SYSTEM, bo.id)}
    with crm.connect() as conn:
        rows = dict(conn.execute(sa.select(suppressions.c.address, suppressions.c.reason)).all())
    assert rows == {"bo@example.com": "bounce", "cy@example.com": "complaint"}
    consent = getattr(crm, "consent", None)
    if consent is not None:
        with crm.connect() as conn:
            assert consent.allowed(conn, [ann.id, cy.id], "email_marketing") == set()


def test_esp_webhook_bad_payload_is_a_clear_422(crm, client):
    body = json.dumps({"events": [{"type": "exploded", "email": "x@example.com"}]}).encode()
    response = client.post("/email/webhooks/esp/generic", content=body, headers=signed(body))
    assert response.status_code == 422
    assert "delivered" in response.text
    unknown = client.post("/email/webhooks/esp/nope", content=b"{}", headers=signed(b"{}"))
    assert unknown.status_code == 404 and "generic" in unknown.json()["detail"]
