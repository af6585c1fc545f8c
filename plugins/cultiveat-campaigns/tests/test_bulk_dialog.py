"""The contacts list's bulk "Send Email" / "Add to Campaign" dialog (``/campaigns/bulk``)."""

from .conftest import make_contacts

TEMPLATE = {
    "name": "Bulk",
    "subject": "Hello {first_name}",
    "body_html": "<p>Hi {first_name}{% if position %}, {position}{% endif %}</p>",
    "body_text": "Hi {first_name} {position}",
}


def test_the_bulk_actions_are_contributed_to_the_list(crm):
    actions = {a.name: a for a in crm.registry.ui("bulk_action")}
    assert actions["send_email"].href == actions["add_to_campaign"].href == "/campaigns/bulk"
    assert actions["send_email"].label == "Send Email"
    assert actions["add_to_campaign"].label == "Add to Campaign"


def test_send_email_to_a_selection_previews_reports_empty_fields_then_sends(crm, client, run_jobs, sink):
    people = make_contacts(crm, 2) + make_contacts(crm, 1, prefix="np", position="")
    ids = [str(p.id) for p in people]
    tid = client.post("/api/campaigns/templates", json=TEMPLATE).json()["id"]
    chooser = client.post("/campaigns/bulk", data={"bulk": "send_email", "contact_ids": ids})
    assert chooser.status_code == 200, chooser.text
    assert "3 selected contacts" in chooser.text and "Welcome Email" in chooser.text
    preview = client.post(
        "/campaigns/bulk",
        data={"bulk": "send_email", "step": "preview", "template_id": str(tid), "contact_ids": ids},
    )
    assert preview.status_code == 200, preview.text
    assert "Hello First0" in preview.text and "<iframe sandbox" in preview.text
    assert "position: empty for 1 of 3" in preview.text
    assert sink.messages == []
    sent = client.post(
        "/campaigns/bulk",
        data={
            "bulk": "send_email",
            "step": "send",
            "template_id": str(tid),
            "name": "Spring <b>picks</b>",
            "contact_ids": ids,
        },
    )
    assert sent.status_code == 200, sent.text
    assert "Queued" in sent.text and "Spring &lt;b&gt;picks&lt;/b&gt;" in sent.text
    assert sink.messages == []  # jobs send, not the request
    run_jobs()
    assert sorted(m["to"][0] for m in sink.messages) == sorted(p.email for p in people)
    [campaign] = [c for c in client.get("/api/campaigns").json() if c["name"].startswith("Spring")]
    assert campaign["audience"] == {"contact_ids": sorted(p.id for p in people)}


def test_add_a_selection_to_a_campaign(crm, client):
    a, b, c = make_contacts(crm, 3)
    tid = client.post("/api/campaigns/templates", json=TEMPLATE).json()["id"]
    campaign = client.post(
        "/api/campaigns",
        json={"name": "Drip", "template_id": tid, "audience": {"contact_ids": [a.id]}},
    ).json()
    ids = [str(a.id), str(b.id), str(c.id)]
    chooser = client.post("/campaigns/bulk", data={"bulk": "add_to_campaign", "contact_ids": ids})
    assert chooser.status_code == 200 and "Drip (Draft)" in chooser.text
    added = client.post(
        "/campaigns/bulk",
        data={
            "bulk": "add_to_campaign",
            "step": "add",
            "campaign_id": str(campaign["id"]),
            "contact_ids": ids,
        },
    )
    assert added.status_code == 200, added.text
    assert "Added 2 contact(s) to Drip; 1 were already in it." in added.text
    got = client.get(f"/api/campaigns/{campaign['id']}").json()
    assert got["audience"] == {"contact_ids": sorted([a.id, b.id, c.id])}


def test_bad_bulk_input_says_what_to_fix(crm, client, app):
    from litestar.testing import TestClient

    nothing = client.post("/campaigns/bulk", data={"bulk": "send_email"})
    assert nothing.status_code == 422 and "select at least one contact" in nothing.text
    [a] = make_contacts(crm, 1)
    no_template = client.post(
        "/campaigns/bulk",
        data={"bulk": "send_email", "step": "send", "template_id": "", "contact_ids": [str(a.id)]},
    )
    assert no_template.status_code == 422 and "choose a template" in no_template.text
    missing = client.post(
        "/campaigns/bulk", data={"bulk": "send_email", "contact_ids": ["999999"], "step": "preview", "template_id": "1"}
    )
    assert missing.status_code == 404 and "999999" in missing.text, missing.text
    with TestClient(app) as anonymous:
        answer = anonymous.post("/campaigns/bulk", data={"contact_ids": [str(a.id)]}, follow_redirects=False)
        assert answer.status_code in (302, 303)
