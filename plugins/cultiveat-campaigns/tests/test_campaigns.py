"""Campaigns end to end with the email channel and a real SMTP server (embedded job runner)."""

import re
from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa
from click.testing import CliRunner
from cultiveat_campaigns.tables import recipients

from cultiveat_core.cli import build_cli

from .conftest import SYSTEM, make_contacts

TEMPLATE = {
    "name": "Offer",
    "subject": "Hello {first_name}",
    "body_html": '<p>Hi {first_name}, see <a href="https://shop.example.com/offer?x=1&amp;y=2">our offer</a></p>',
    "body_text": "Hi {first_name}, see https://shop.example.com/offer",
}


def new_campaign(client, contact_ids, name="Spring", **extra):
    tid = client.post("/api/campaigns/templates", json={**TEMPLATE, "name": f"T {name}"}).json()[
        "id"
    ]
    response = client.post(
        "/api/campaigns",
        json={"name": name, "template_id": tid, "audience": {"contact_ids": contact_ids}, **extra},
    )
    assert response.status_code == 201, response.text
    return response.json()


def links(msg):
    html = msg.get_body(("html",)).get_content()
    return re.findall(r'href="([^"]+)"', html), html


def test_a_campaign_is_sent_by_jobs_in_batches_once_per_contact(make_crm, env, sink):
    import cultiveat_campaigns.plugin
    import cultiveat_email.plugin
    from litestar.testing import TestClient

    from cultiveat_core.testing import token_for
    from cultiveat_core.web import create_app

    crm = make_crm(
        plugins=[cultiveat_campaigns.plugin, cultiveat_email.plugin],
        environ={**env, "CULTIVEAT_EMAIL_BATCH_SIZE": "4"},
    )
    people = make_contacts(crm, 10)
    with TestClient(create_app(crm, run_jobs=False)) as client:
        client.headers["Authorization"] = f"Bearer {token_for(crm, 'marketing')}"
        campaign = new_campaign(client, [p.id for p in people])
        assert campaign["status"] == "Draft"
        sent = client.post(f"/api/campaigns/{campaign['id']}/send")
        assert sent.status_code == 202, sent.text
        assert sent.json()["status"] == "Active"
        assert sink.messages == []  # never inside the request
        assert crm.jobs.run_pending() == 1 + 3  # prepare + ceil(10 / 4) batches
        assert len(sink.messages) == 10
        assert sorted(m["to"][0] for m in sink.messages) == sorted(p.email for p in people)
        assert client.get(f"/api/campaigns/{campaign['id']}").json()["status"] == "Completed"
        # sending again is refused, re-running a batch job sends nothing
        assert client.post(f"/api/campaigns/{campaign['id']}/send").status_code == 409
    first = sink.to("p0@example.com")[0]
    assert first["Subject"] == "Hello First0"
    assert first["List-Unsubscribe"].startswith("<https://crm.cultiveat.test/t/c")
    assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    hrefs, html = links(first)
    assert any("/t/" in h and "/c?u=" in h for h in hrefs)
    assert "/o.gif" in html
    assert "Unsubscribe" in first.get_body(("plain",)).get_content()
    sent_acts = crm.activities.timeline(SYSTEM, people[0].id, types=["email_sent"])
    assert len(sent_acts) == 1 and sent_acts[0].data["campaign_id"] == campaign["id"]


def test_a_rerun_batch_job_never_sends_twice(crm, client, run_jobs, sink):
    people = make_contacts(crm, 3)
    campaign = new_campaign(client, [p.id for p in people])
    client.post(f"/api/campaigns/{campaign['id']}/send")
    run_jobs()
    assert len(sink.messages) == 3
    from cultiveat_campaigns import sending
    from cultiveat_campaigns.tables import campaigns

    from cultiveat_core.jobs import JobContext

    with crm.begin() as conn:  # as if the worker died after sending, before recording it
        conn.execute(recipients.update().values(status="queued"))
        conn.execute(campaigns.update().values(status="Active"))
        ids = conn.execute(sa.select(recipients.c.id).order_by(recipients.c.id)).scalars().all()
    ctx = JobContext(crm, "manual", "campaigns.send_batch", {}, 1, None, 300)
    sending.send_batch(ctx, campaign_id=campaign["id"], first_id=ids[0], last_id=ids[-1])
    assert len(sink.messages) == 3


def test_unsubscribe_link_works_without_login_and_at_once(crm, client, app, run_jobs, sink):
    from litestar.testing import TestClient

    ann, bob = make_contacts(crm, 2)
    first = new_campaign(client, [ann.id, bob.id], name="First")
    client.post(f"/api/campaigns/{first['id']}/send")
    run_jobs()
    url = sink.to(ann.email)[0]["List-Unsubscribe"].strip("<>")
    path = urlsplit(url).path
    with TestClient(app) as anonymous:
        page = anonymous.get(path)
        assert page.status_code == 200 and "unsubscribed" in page.text
        assert anonymous.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert crm.activities.timeline(SYSTEM, ann.id, types=["unsubscribed"])
    # a campaign queued BEFORE the unsubscribe is filtered at send time
    second = new_campaign(client, [ann.id, bob.id], name="Second")
    client.post(f"/api/campaigns/{second['id']}/send")
    run_jobs()
    assert len(sink.to(ann.email)) == 1
    assert len(sink.to(bob.email)) == 2
    recips = {
        r["contact_id"]: r for r in client.get(f"/api/campaigns/{second['id']}/recipients").json()
    }
    assert recips[ann.id]["status"] == "excluded"
    first_recips = {
        r["contact_id"]: r for r in client.get(f"/api/campaigns/{first['id']}/recipients").json()
    }
    assert first_recips[ann.id]["tracking_status"] == "Unsubscribed"


def test_unsubscribe_between_queueing_and_sending_is_honoured(crm, client, run_jobs, sink):
    from cultiveat_campaigns import consent

    ann, bob = make_contacts(crm, 2)
    campaign = new_campaign(client, [ann.id, bob.id])
    client.post(f"/api/campaigns/{campaign['id']}/send")
    consent.withdraw(crm, SYSTEM, [ann.id], "email_marketing", source="phone call")
    run_jobs()
    assert sink.to(ann.email) == [] and len(sink.to(bob.email)) == 1


def test_open_and_click_tracking_and_no_open_redirect(crm, client, app, run_jobs, sink):
    from litestar.testing import TestClient

    [ann] = make_contacts(crm, 1)
    campaign = new_campaign(client, [ann.id])
    client.post(f"/api/campaigns/{campaign['id']}/send")
    run_jobs()
    hrefs, html = links(sink.to(ann.email)[0])
    click = next(h for h in hrefs if "/c?u=" in h).replace("&amp;", "&")
    pixel = re.search(r'src="([^"]+o\.gif)"', html).group(1)
    parts = urlsplit(click)
    with TestClient(app) as anonymous:
        assert anonymous.get(urlsplit(pixel).path).headers["content-type"] == "image/gif"
        good = anonymous.get(f"{parts.path}?{parts.query}", follow_redirects=False)
        assert good.status_code == 302
        assert good.headers["location"] == "https://shop.example.com/offer?x=1&y=2"
        query = parse_qs(parts.query)
        evil = anonymous.get(
            parts.path,
            params={"u": "https://evil.example.net/", "s": query["s"][0]},
            follow_redirects=False,
        )
        assert evil.status_code == 404 and "evil" not in evil.text
        js = anonymous.get(
            parts.path,
            params={"u": "javascript:alert(1)", "s": query["s"][0]},
            follow_redirects=False,
        )
        assert js.status_code == 404
        forged = anonymous.get(
            "/t/c1.AAAAAAAAAAAAAAAAAAAAAA/c",
            params={"u": "https://shop.example.com/offer"},
            follow_redirects=False,
        )
        assert forged.status_code == 404
        bogus_pixel = anonymous.get("/t/nonsense/o.gif")
        assert bogus_pixel.status_code == 200 and bogus_pixel.content[:3] == b"GIF"
    types = [a.type for a in crm.activities.timeline(SYSTEM, ann.id)]
    assert types.count("email_opened") == 1 and types.count("email_clicked") == 1
    [recipient] = client.get(f"/api/campaigns/{campaign['id']}/recipients").json()
    assert recipient["opened_at"] and recipient["clicked_at"]
    assert recipient["tracking_status"] == "Clicked"


def test_segment_audience_without_the_segments_plugin_says_so(crm, client):
    tid = client.post("/api/campaigns/templates", json=TEMPLATE).json()["id"]
    response = client.post(
        "/api/campaigns", json={"name": "Seg", "template_id": tid, "audience": {"segment_id": 1}}
    )
    assert response.status_code == 422
    assert "segments plugin" in response.text


def test_filter_audience_and_capacity(crm, client, run_jobs, sink):
    people = make_contacts(crm, 3)
    tid = client.post("/api/campaigns/templates", json=TEMPLATE).json()["id"]
    too_big = client.post(
        "/api/campaigns",
        json={
            "name": "Cap",
            "template_id": tid,
            "capacity": 2,
            "audience": {"contact_ids": [p.id for p in people]},
        },
    ).json()
    response = client.post(f"/api/campaigns/{too_big['id']}/send")
    assert response.status_code == 422 and "capacity" in response.text
    by_company = client.post(
        "/api/campaigns",
        json={
            "name": "Filter",
            "template_id": tid,
            "audience": {"filter": {"company": "techcorp solutions"}},
        },
    )
    assert by_company.status_code == 201, by_company.text
    client.post(f"/api/campaigns/{by_company.json()['id']}/send")
    run_jobs()
    assert len(sink.messages) == 3
    bad = client.post(
        "/api/campaigns", json={"name": "Bad", "template_id": tid, "audience": {"filter": {"x": 1}}}
    )
    assert bad.status_code == 422


def test_multiple_active_campaigns_per_contact_and_assignment(crm, client, run_jobs, sink):
    [ann] = make_contacts(crm, 1)
    a = new_campaign(client, [ann.id], name="A")
    b = new_campaign(client, [ann.id], name="B")
    extra = make_contacts(crm, 1, prefix="x")[0]
    assigned = client.post(
        f"/api/campaigns/{b['id']}/contacts", json={"contact_ids": [extra.id, ann.id]}
    )
    assert assigned.json() == {"campaign_id": b["id"], "added": 1, "already": 1}
    assert crm.activities.timeline(SYSTEM, extra.id, types=["campaign_added"])
    client.post(f"/api/campaigns/{a['id']}/send")
    client.post(f"/api/campaigns/{b['id']}/send")
    run_jobs()
    assert len(sink.to(ann.email)) == 2 and len(sink.to(extra.email)) == 1
    listed = client.get(f"/api/campaigns/contacts/{ann.id}/campaigns").json()
    assert {c["name"] for c in listed} == {"A", "B"}


def test_schedule_pause_and_resume(crm, client, run_jobs, sink):
    from datetime import timedelta

    from cultiveat_campaigns.clock import ManualClock
    from cultiveat_campaigns.state import state

    from cultiveat_core.db.metadata import utcnow

    clock = state(crm).clock = ManualClock()
    people = make_contacts(crm, 2)
    campaign = new_campaign(
        client, [p.id for p in people], schedule_at=(utcnow() + timedelta(hours=2)).isoformat()
    )
    assert client.post(f"/api/campaigns/{campaign['id']}/send").json()["status"] == "Scheduled"
    from cultiveat_campaigns import service

    assert service.start_due(crm) == 0
    clock.advance(hours=3)
    assert service.start_due(crm) == 1
    assert client.post(f"/api/campaigns/{campaign['id']}/pause").json()["status"] == "Paused"
    run_jobs()
    assert sink.messages == []
    assert client.post(f"/api/campaigns/{campaign['id']}/resume").json()["status"] == "Active"
    run_jobs()
    assert len(sink.messages) == 2


def test_permissions(crm, client_for, run_jobs, sink):
    marketing = client_for("marketing")
    sales = client_for("sales", "rep@example.com")
    executive = client_for("executive")
    rep = crm.users.get_by_email("rep@example.com")
    own = make_contacts(crm, 1, prefix="own", owner_id=rep.id)[0]
    other = make_contacts(crm, 1, prefix="other")[0]
    tid = marketing.post("/api/campaigns/templates", json=TEMPLATE).json()["id"]
    denied = sales.post(
        "/api/campaigns",
        json={"name": "S1", "template_id": tid, "audience": {"contact_ids": [other.id]}},
    )
    assert denied.status_code == 403 and "own" in denied.text
    mine = sales.post(
        "/api/campaigns",
        json={"name": "S2", "template_id": tid, "audience": {"contact_ids": [own.id]}},
    )
    assert mine.status_code == 201, mine.text
    assert sales.post(f"/api/campaigns/{mine.json()['id']}/send").status_code == 202
    run_jobs()
    assert len(sink.to(own.email)) == 1
    assert executive.get(f"/api/campaigns/{mine.json()['id']}/analytics").status_code == 200
    assert executive.post(f"/api/campaigns/{mine.json()['id']}/send").status_code == 403
    assert sales.get(f"/api/campaigns/{mine.json()['id']}/analytics").status_code == 403


def test_sending_to_an_individual_needs_a_preview_first(crm, client, run_jobs, sink):
    [ann] = make_contacts(crm, 1)
    tid = client.post("/api/campaigns/templates", json=TEMPLATE).json()["id"]
    refused = client.post(f"/api/campaigns/templates/{tid}/send", json={"contact_id": ann.id})
    assert refused.status_code == 412 and "preview" in refused.text
    client.post(
        f"/api/campaigns/templates/{tid}/preview",
        json={"contact_id": ann.id, "subject": "Custom {first_name}"},
    )
    accepted = client.post(
        f"/api/campaigns/templates/{tid}/send",
        json={"contact_id": ann.id, "subject": "Custom {first_name}"},
    )
    assert accepted.status_code == 202, accepted.text
    assert sink.messages == []
    run_jobs()
    assert sink.to(ann.email)[0]["Subject"] == "Custom First0"
    history = client.get(f"/api/campaigns/contacts/{ann.id}/communications").json()
    assert history["entries"][0]["type"] == "email_sent"
    assert history["entries"][0]["subject"] == "Custom First0"


def test_communication_history_pages_of_25(crm, client):
    [ann] = make_contacts(crm, 1)
    crm.activities.log_many(
        SYSTEM,
        [
            {
                "contact_id": ann.id,
                "type": "email_sent",
                "data": {"subject": f"m{i}", "direction": "outbound"},
            }
            for i in range(30)
        ],
    )
    first = client.get(f"/api/campaigns/contacts/{ann.id}/communications").json()
    assert len(first["entries"]) == 25 and first["next_before"]
    second = client.get(
        f"/api/campaigns/contacts/{ann.id}/communications", params={"before": first["next_before"]}
    ).json()
    assert len(second["entries"]) == 5 and second["next_before"] is None
    ids = [e["id"] for e in first["entries"] + second["entries"]]
    assert len(set(ids)) == 30


def test_communication_tab_groups_by_day_and_pages_without_javascript(crm):
    import re
    from datetime import UTC, datetime, timedelta
    from types import SimpleNamespace
    from urllib.parse import unquote

    from cultiveat_campaigns.ui import render_communication_tab

    [ann] = make_contacts(crm, 1)
    base = datetime(2026, 5, 4, 15, 0, tzinfo=UTC)
    crm.activities.log_many(
        SYSTEM,
        [
            {
                "contact_id": ann.id,
                "type": "email_sent",
                "occurred_at": base - timedelta(hours=3 * i),
                "data": {"subject": f"<m{i}>", "direction": "outbound"},
            }
            for i in range(30)
        ],
    )

    def render(**query):
        return render_communication_tab(
            crm=crm, actor=SYSTEM, contact=ann, request=SimpleNamespace(query_params=query)
        )

    first = render()
    assert first.count("<li ") == 25 and "&lt;m0&gt;" in first and "<m0>" not in first
    days = re.findall(r"data-day='([0-9-]+)'", first)
    assert days == sorted(set(days), reverse=True) and days[0] == "2026-05-04" and len(days) == 4
    link = re.search(r"<a class='button' data-more href='([^']+)'>Older messages</a>", first)
    assert link and link.group(1).startswith(f"/contacts/{ann.id}?tab=communication&amp;comm_before=")
    cursor = unquote(link.group(1).split("comm_before=")[1].split("#")[0])
    second = render(comm_before=cursor)
    assert second.count("<li ") == 5 and "data-more href" not in second and "Newest messages" in second
    # the activity tab's own cursor (?before=) is not this tab's
    assert render(before="2026-05-01T00:00:00+00:00_1").count("<li ") == 25


def test_cli_campaigns_send(crm, client, run_jobs, sink):
    [ann] = make_contacts(crm, 1)
    new_campaign(client, [ann.id], name="CLI campaign")
    result = CliRunner().invoke(build_cli(crm), ["campaigns", "send", "CLI campaign"], obj=crm)
    assert result.exit_code == 0, result.output
    assert "Active" in result.output
    run_jobs()
    assert len(sink.to(ann.email)) == 1
    missing = CliRunner().invoke(build_cli(crm), ["campaigns", "send", "nope"], obj=crm)
    assert missing.exit_code != 0 and "no campaign named" in missing.output


def test_send_email_dialog_previews_then_sends(crm, client, app, run_jobs, sink):
    from litestar.testing import TestClient

    [ann] = make_contacts(crm, 1)
    tid = client.post("/api/campaigns/templates", json=TEMPLATE).json()["id"]
    dialog = client.get(f"/campaigns/contacts/{ann.id}/email")
    assert (
        dialog.status_code == 200 and "Welcome Email" in dialog.text and "Onboarding" in dialog.text
    )
    previewed = client.get(f"/campaigns/contacts/{ann.id}/email", params={"template_id": tid})
    assert "Hello First0" in previewed.text and "<iframe sandbox" in previewed.text
    sent = client.post(
        f"/campaigns/contacts/{ann.id}/email",
        data={"template_id": str(tid), "subject": ""},
        follow_redirects=False,
    )
    assert sent.status_code in (302, 303), sent.text
    run_jobs()
    assert len(sink.to(ann.email)) == 1
    with TestClient(app) as anonymous:
        assert anonymous.get(
            f"/campaigns/contacts/{ann.id}/email", follow_redirects=False
        ).status_code in (302, 303)
