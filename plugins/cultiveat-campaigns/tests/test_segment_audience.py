"""A segment audience with the real segments plugin installed (campaigns declares it optional:
``cultiveat-campaigns[segments]``); skipped, saying why, when the plugin is not installed."""

import pytest

from .conftest import SYSTEM, make_contacts

segments_plugin = pytest.importorskip(
    "cultiveat_segments.plugin",
    reason="cultiveat-segments is not installed (pip install 'cultiveat-campaigns[segments]')",
)


def test_a_segment_audience_sends_to_the_segment_members_at_send_time(make_crm, env, sink):
    import cultiveat_campaigns.plugin
    import cultiveat_email.plugin
    from litestar.testing import TestClient

    from cultiveat_core.testing import token_for
    from cultiveat_core.web import create_app

    crm = make_crm(
        plugins=[cultiveat_campaigns.plugin, cultiveat_email.plugin, segments_plugin],
        environ={**env, "CULTIVEAT_EMAIL_BATCH_SIZE": "2"},
    )
    big = make_contacts(crm, 3, prefix="big", company_size=500)
    small = make_contacts(crm, 2, prefix="small", company_size=5)
    with TestClient(create_app(crm, run_jobs=False)) as client:
        client.headers["Authorization"] = f"Bearer {token_for(crm, 'marketing')}"
        segment = client.post(
            "/api/segments",
            json={"name": "Mid", "definition": {"field": "company_size", "op": ">", "value": 100}},
        )
        assert segment.status_code == 201, segment.text
        assert segment.json()["member_count"] == 3
        tid = client.post(
            "/api/campaigns/templates",
            json={"name": "Seg", "subject": "Hi {first_name}", "body_text": "For {company_name}"},
        ).json()["id"]
        unknown = client.post(
            "/api/campaigns",
            json={"name": "Nope", "template_id": tid, "audience": {"segment_id": 999999}},
        )
        assert unknown.status_code == 404, unknown.text
        created = client.post(
            "/api/campaigns",
            json={
                "name": "Mid-size",
                "template_id": tid,
                "audience": {"segment_id": segment.json()["id"]},
            },
        )
        assert created.status_code == 201, created.text
        campaign = created.json()
        # one member leaves the segment and one joins before the send: membership at send time
        crm.contacts.update(SYSTEM, big[0].id, {"company_size": 1})
        crm.contacts.update(SYSTEM, small[0].id, {"company_size": 900})
        from cultiveat_segments import api

        api.refresh(crm, segment.json()["id"])  # (membership also follows the events)
        assert client.post(f"/api/campaigns/{campaign['id']}/send").status_code == 202
        crm.jobs.run_pending()
        # sales may not target a segment (ownership cannot be checked up front)
        client.headers["Authorization"] = f"Bearer {token_for(crm, 'sales')}"
        denied = client.post(
            "/api/campaigns",
            json={"name": "S", "template_id": tid, "audience": {"segment_id": segment.json()["id"]}},
        )
        assert denied.status_code == 403, denied.text
    got = sorted(m["to"][0] for m in sink.messages)
    assert got == sorted([big[1].email, big[2].email, small[0].email])
    assert all(len(sink.to(e)) == 1 for e in got)
