"""Sequences on a controllable clock; analytics with revenue, ROI and a safe CSV export."""

import csv
import io
import re
from urllib.parse import urlsplit

from cultiveat_campaigns import analytics, sequences
from cultiveat_campaigns.clock import ManualClock
from cultiveat_campaigns.state import state

from .conftest import SYSTEM, make_contacts


def template(client, name, subject):
    response = client.post(
        "/api/campaigns/templates",
        json={
            "name": name,
            "subject": subject,
            "body_html": '<p>{first_name} <a href="https://x.example/p">go</a></p>',
            "body_text": "{first_name}",
        },
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_sequence_steps_follow_delays_and_conditions_on_the_clock(crm, client, app, sink):
    from litestar.testing import TestClient

    clock = state(crm).clock = ManualClock()
    welcome, follow, demo = (
        template(client, n, n + " {first_name}") for n in ("Welcome", "Follow", "Demo")
    )
    created = client.post(
        "/api/campaigns/sequences",
        json={
            "name": "Onboarding",
            "exit_on": ["replied", "unsubscribed"],
            "steps": [
                {"template_id": welcome, "delay_hours": 0},
                {"template_id": follow, "delay_hours": 48, "condition": {"opened": True}},
                {"template_id": demo, "delay_hours": 72, "condition": {"clicked": True}},
            ],
        },
    )
    assert created.status_code == 201, created.text
    seq = created.json()
    ann, bob, cy = make_contacts(crm, 3)
    enrolled = client.post(
        f"/api/campaigns/sequences/{seq['id']}/enrolments",
        json={"contact_ids": [ann.id, bob.id, cy.id]},
    ).json()
    assert enrolled == {"sequence_id": seq["id"], "enrolled": 3, "already": 0}
    again = client.post(
        f"/api/campaigns/sequences/{seq['id']}/enrolments", json={"contact_ids": [ann.id]}
    ).json()
    assert again["enrolled"] == 0 and again["already"] == 1  # one enrolment per contact

    assert sequences.tick(crm)["sent"] == 3  # step 0 is due at once
    assert sequences.tick(crm)["sent"] == 0  # and never twice
    # Ann opens the welcome mail; Cy replies (exit rule)
    with TestClient(app) as anonymous:
        pixel = re.search(
            r'src="([^"]+o\.gif)"', sink.to(ann.email)[0].get_body(("html",)).get_content()
        ).group(1)
        anonymous.get(urlsplit(pixel).path)
    crm.activities.log(SYSTEM, cy.id, "email_replied", data={"subject": "Re: Welcome"})

    clock.advance(hours=47)
    result = sequences.tick(crm)
    assert result["sent"] == 0 and result["exited"] == 1  # not due yet; Cy leaves at once
    clock.advance(hours=2)
    result = sequences.tick(crm)
    assert result["sent"] == 1 and result["skipped"] == 1
    assert [m["Subject"] for m in sink.to(ann.email)] == ["Welcome First0", "Follow First0"]
    assert len(sink.to(bob.email)) == 1  # did not open: follow-up skipped
    assert len(sink.to(cy.email)) == 1  # replied: left the sequence

    clock.advance(hours=73)
    result = sequences.tick(crm)
    assert result["sent"] == 0 and result["completed"] == 2  # nobody clicked
    status = client.get(f"/api/campaigns/sequences/{seq['id']}").json()["enrolments"]
    assert status == {"completed": 2, "exited": 1}


def test_sequence_validation(client, crm):
    tid = template(client, "T", "S")
    bad = client.post(
        "/api/campaigns/sequences",
        json={"name": "x", "steps": [{"template_id": tid, "condition": {"magic": 1}}]},
    )
    assert bad.status_code == 422 and "condition" in bad.text
    score = client.post(
        "/api/campaigns/sequences",
        json={"name": "y", "steps": [{"template_id": tid, "condition": {"score_above": 50}}]},
    )
    assert score.status_code == 422 and "score" in score.text
    assert (
        client.post("/api/campaigns/sequences", json={"name": "z", "steps": []}).status_code == 422
    )


def test_analytics_rates_revenue_roi_and_safe_csv(crm, client, app, run_jobs, sink):
    from litestar.testing import TestClient

    people = make_contacts(crm, 4)
    tid = template(client, "Offer", "Offer {first_name}")
    campaign = client.post(
        "/api/campaigns",
        json={
            "name": '=HYPERLINK("http://evil")',
            "template_id": tid,
            "cost": 100,
            "audience": {"contact_ids": [p.id for p in people]},
        },
    )
    assert campaign.status_code == 201, campaign.text
    cid = campaign.json()["id"]
    sink_bounce = people[3].email
    sink.rcpt_script[sink_bounce] = ["550 5.1.1 unknown user"]
    client.post(f"/api/campaigns/{cid}/send")
    run_jobs()
    with TestClient(app) as anonymous:
        for person in people[:2]:
            html = sink.to(person.email)[0].get_body(("html",)).get_content()
            anonymous.get(urlsplit(re.search(r'src="([^"]+o\.gif)"', html).group(1)).path)
    crm.activities.log(SYSTEM, people[0].id, "purchase", data={"amount": 250, "currency": "USD"})
    crm.activities.log(SYSTEM, people[1].id, "purchase", data={"amount": 50, "currency": "USD"})
    stats = client.get(f"/api/campaigns/{cid}/analytics").json()
    assert stats["sent"] == 3 and stats["bounced"] == 1 and stats["delivered"] == 3
    assert stats["opened"] == 2 and stats["open_rate"] == 66.67
    assert stats["attempted"] == 4 and stats["bounce_rate"] == 25.0
    assert stats["conversions"] == 2 and stats["revenue"] == 300.0
    assert stats["roi"] == 200.0
    assert stats["over_time"][0]["sent"] == 3
    exported = client.get(f"/api/campaigns/{cid}/analytics.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.text)))
    name = next(r[1] for r in rows if r and r[0] == "name")
    assert name.startswith("'=")
    assert analytics.safe_cell("-1+2") == "'-1+2" and analytics.safe_cell(5) == 5


def test_privacy_hooks(crm, client, run_jobs, sink):
    from cultiveat_campaigns import plugin

    [ann] = make_contacts(crm, 1)
    tid = template(client, "P", "P")
    cid = client.post(
        "/api/campaigns",
        json={"name": "P", "template_id": tid, "audience": {"contact_ids": [ann.id]}},
    ).json()["id"]
    client.post(f"/api/campaigns/{cid}/send")
    run_jobs()
    data = plugin.contact_data_for_subject_access(crm=crm, contact=ann)
    assert data["campaign_recipients"][0]["campaign_id"] == cid
    plugin.erase_contact_data(crm=crm, contact=ann)
    assert plugin.contact_data_for_subject_access(crm=crm, contact=ann)["campaign_recipients"] == []
