"""The HTTP API, CLI, extension points (fields, KPIs, UI) and permissions."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from click.testing import CliRunner

from cultiveat_core.cli.main import build_cli
from cultiveat_core.db import tables as core
from cultiveat_core.demo import load_demo

from .conftest import SYSTEM, add_contact


def test_rules_crud_validation_versions_and_permissions(
    crm: Any, client: Any, client_for: Any, run_jobs: Any
) -> None:
    current = client.get("/api/scoring/rules").json()
    assert current["version"] == 0 and len(current["document"]["rules"]) == 11
    bad = {
        **current["document"],
        "rules": [
            {
                "id": "Bad Id",
                "group": "nope",
                "type": "activity",
                "activity_types": ["teleported"],
                "points": "many",
            }
        ],
    }
    response = client.put("/api/scoring/rules", json={"document": bad, "comment": "broken"})
    assert response.status_code == 422
    fields = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert "lower-case" in fields["rules[0].id"]
    assert "declared groups: fit, engagement" in fields["rules[0].group"]
    assert "unknown activity type(s) teleported" in fields["rules[0].activity_types"]
    assert "must be a number" in fields["rules[0].points"]
    assert client.get("/api/scoring/rules/versions").json()["items"] == []  # nothing half-written
    rule = {
        "id": "replied",
        "label": "Replied to an email",
        "group": "engagement",
        "type": "activity",
        "activity_types": ["email_replied"],
        "points": 10,
        "repeat": "once",
    }
    created = client.post("/api/scoring/rules/items", json=rule)
    assert created.status_code == 201, created.text
    assert created.json()["version"] == 1 and created.json()["job_id"]
    assert client.post("/api/scoring/rules/items", json=rule).status_code == 422  # duplicate id
    changed = client.patch("/api/scoring/rules/items/replied", json={"points": 12, "cap": 5})
    assert changed.status_code == 422 and "only a repeatable rule has a cap" in changed.text
    assert (
        client.patch("/api/scoring/rules/items/replied", json={"points": 12}).json()["version"] == 2
    )
    assert client.delete("/api/scoring/rules/items/replied").json()["version"] == 3
    assert client.delete("/api/scoring/rules/items/replied").status_code == 404
    restored = client.post("/api/scoring/rules/versions/2/restore").json()
    assert restored["version"] == 4
    assert any(r["id"] == "replied" and r["points"] == 12 for r in restored["document"]["rules"])
    assert [v["version"] for v in client.get("/api/scoring/rules/versions").json()["items"]] == [
        4,
        3,
        2,
        1,
    ]
    assert client.post("/api/scoring/rules/validate", json={"rules": 3}).status_code == 422
    run_jobs()
    with crm.connect() as conn:
        audited = conn.execute(
            sa.select(sa.func.count()).where(core.audit_log.c.action == "scoring.rules.save")
        ).scalar()
    assert audited == 4
    sales = client_for("sales")
    assert sales.put("/api/scoring/rules", json=current["document"]).status_code == 403
    assert sales.post("/api/scoring/recompute").status_code == 403
    assert sales.get("/api/scoring/rules").status_code == 200
    conditions = {c["name"] for c in client.get("/api/scoring/conditions").json()["items"]}
    assert "has_tag" in conditions
    assert client.get("/api/scoring/contacts/999999").status_code == 404


def test_recompute_job_work_next_fields_kpis_ui_and_cli(
    crm: Any, client: Any, run_jobs: Any
) -> None:
    load_demo(crm, count=0)
    started = client.post("/api/scoring/recompute")
    assert started.status_code == 202
    run_jobs()
    job = client.get(started.json()["status_url"]).json()
    assert job["status"] == "done" and job["percent"] == 100.0 and job["result"]["scored"] == 4
    work = client.get("/api/scoring/work-next?limit=5").json()["items"]
    assert work[0]["name"] == "David Thompson"
    assert work[0]["priority_action"]["text"] == "Schedule demo within 24hrs"
    urgencies = [("24hrs", "48hrs", "1 week").index(i["priority_action"]["within"]) for i in work]
    assert urgencies == sorted(urgencies)
    # the core's extension points: computed fields (filter/sort) and KPIs
    fields = crm.registry.contact_fields
    assert {"score", "engagement_percent", "fit", "hot"} <= set(fields)
    c = core.contacts
    with crm.connect() as conn:
        ranked = (
            conn.execute(
                sa.select(c.c.last_name)
                .where(fields["score"].expression(c) >= 50)
                .order_by(fields["score"].expression(c).desc())
            )
            .scalars()
            .all()
        )
        kpis = {k.name: k.compute(crm=crm, conn=conn, actor=SYSTEM) for k in crm.registry.kpis}
    assert ranked[0] == "Thompson" and len(ranked) >= 3
    assert kpis["hot_leads"] == 1 and 50 <= kpis["average_score"] <= 100
    # UI contributions render escaped values
    evil = add_contact(
        crm,
        "evil@example.com",
        first_name="<script>x</script>",
        position="CEO",
        industry="SaaS",
        stage="Hot Lead",
    )
    crm.activities.log_many(
        SYSTEM,
        [
            {"contact_id": evil, "type": "demo_requested"},
            {"contact_id": evil, "type": "pricing_requested"},
        ],
    )
    ui = {item.name: item for item in crm.registry.ui()}
    widget = ui["hot_leads"].render(crm=crm, actor=SYSTEM)
    assert "&lt;script&gt;" in widget and "<script>" not in widget
    tab = ui["score_breakdown"].render(
        crm=crm, actor=SYSTEM, contact=crm.contacts.get(SYSTEM, evil), request=None
    )
    assert "Priority Action" in tab and "<th>Rule</th>" in tab
    assert ui["hot_lead_alert"].kind == "contact_panel"
    panel = ui["hot_lead_alert"].render(
        crm=crm, actor=SYSTEM, contact=crm.contacts.get(SYSTEM, evil), request=None
    )
    assert "HOT LEAD ALERT" in panel.upper() and "Priority Action" in panel
    cold = add_contact(crm, "cold@example.com", position="Barista", industry="Media")
    assert (
        ui["hot_lead_alert"].render(
            crm=crm, actor=SYSTEM, contact=crm.contacts.get(SYSTEM, cold), request=None
        )
        == ""
    )
    column = ui["score"].value(crm=crm, contact_ids=[evil])
    assert ">100<" in column[evil] or ">9" in column[evil]
    # CLI
    runner = CliRunner()
    result = runner.invoke(build_cli(crm), ["scoring", "recompute"], catch_exceptions=False)
    assert (
        result.exit_code == 0 and json.loads(result.stdout.strip().splitlines()[-1])["scored"] == 6
    )
    result = runner.invoke(build_cli(crm), ["scoring", "recompute", "--dirty-only"])
    assert result.exit_code == 0
    result = runner.invoke(build_cli(crm), ["scoring", "train"])
    assert result.exit_code == 1 and "not enough history to train" in result.stderr
    refused = client.post("/api/scoring/model/train")
    run_jobs()
    assert client.get(refused.json()["status_url"]).json()["status"] == "failed"
    assert client.get("/api/scoring/model").status_code == 404


def test_subject_access_and_erasure(crm: Any) -> None:
    from cultiveat_scoring import plugin

    cid = add_contact(crm, "gdpr@example.com", position="CEO")
    crm.activities.log(SYSTEM, cid, "webinar_attended")
    contact = crm.contacts.get(SYSTEM, cid)
    data = plugin.contact_data_for_subject_access(crm=crm, contact=contact)
    assert data is not None and data["score"]["contact_id"] == cid and len(data["history"]) == 2
    plugin.erase_contact_data(crm=crm, contact=contact)
    plugin.erase_contact_data(crm=crm, contact=contact)  # idempotent
    assert plugin.contact_data_for_subject_access(crm=crm, contact=contact) is None
