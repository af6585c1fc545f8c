"""Segments over HTTP: templates, the 50 limit, validation, preview, members, permissions, overrides."""

from __future__ import annotations

import pytest
from cultiveat_segments.plugin import service

from .data import SYSTEM

TEMPLATES = ("High Value Prospects", "Product Champions", "Enterprise Leads")


def _contacts(crm):
    rows = [
        {
            "email": "ceo@big.com",
            "first_name": "Ada",
            "last_name": "Big",
            "position": "CEO",
            "company_size": 5000,
            "tags": ["Enterprise"],
        },
        {
            "email": "cto@big.com",
            "first_name": "Bo",
            "last_name": "Big",
            "position": "Chief Technology Officer",
            "company_size": 1500,
        },
        {
            "email": "dev@big.com",
            "first_name": "Cy",
            "last_name": "Big",
            "position": "Engineer",
            "company_size": 5000,
        },
        {
            "email": "ceo@small.com",
            "first_name": "Di",
            "last_name": "Small",
            "position": "CEO",
            "company_size": 20,
        },
    ]
    return {c.email: c.id for c in crm.contacts.create_many(SYSTEM, rows)}


def by_name(client):
    response = client.get("/api/segments")
    assert response.status_code == 200, response.text
    return {s["name"]: s for s in response.json()}


def test_seed_templates_exist_on_a_new_installation_with_their_exact_names(client):
    segments = by_name(client)
    assert set(TEMPLATES) <= set(segments)
    assert segments["High Value Prospects"]["definition"] == {
        "all": [
            {"field": "score", "op": ">", "value": 80},
            {"field": "company_size", "op": ">", "value": 100},
        ]
    }
    assert segments["Enterprise Leads"]["status"] == "active"


def test_score_conditions_are_reported_unavailable_without_the_scoring_plugin(client, crm):
    segments = by_name(client)
    for name in ("High Value Prospects", "Product Champions"):
        assert segments[name]["status"] == "unavailable"
        assert "scoring plugin, which is not installed" in segments[name]["unavailable_reason"]
    _contacts(crm)
    results = {r["name"]: r for r in client.post("/api/segments/refresh").json()}
    assert "scoring plugin" in results["High Value Prospects"]["skipped"]
    assert results["High Value Prospects"]["size"] == 0
    assert (
        results["Enterprise Leads"]["skipped"] is None and results["Enterprise Leads"]["size"] == 2
    )


def test_enterprise_leads_selects_c_level_at_companies_over_1000(client, crm):
    ids = _contacts(crm)
    seg = by_name(client)["Enterprise Leads"]
    client.post(f"/api/segments/{seg['id']}/refresh")
    members = client.get(f"/api/segments/{seg['id']}/members").json()
    assert {m["email"] for m in members["items"]} == {"ceo@big.com", "cto@big.com"}
    assert {m["id"] for m in members["items"]} == {ids["ceo@big.com"], ids["cto@big.com"]}


def test_templates_can_be_edited_and_deleted(client):
    segments = by_name(client)
    hvp = segments["High Value Prospects"]
    response = client.patch(
        f"/api/segments/{hvp['id']}",
        json={"definition": {"all": [{"field": "company_size", "op": ">", "value": 100}]}},
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "active"
    assert client.delete(f"/api/segments/{segments['Product Champions']['id']}").status_code == 204
    assert "Product Champions" not in by_name(client)


def test_the_51st_segment_is_refused_with_a_clear_error(client, crm):
    existing = len(by_name(client))
    for i in range(50 - existing):
        service(crm).create(SYSTEM, {"name": f"Segment {i}", "kind": "static"}, refresh=False)
    assert len(by_name(client)) == 50
    response = client.post(
        "/api/segments", json={"name": "One too many", "definition": {"all": []}}
    )
    assert response.status_code == 409
    assert "at most 50 segments" in response.json()["detail"]
    assert "One too many" not in by_name(client)


def test_the_segment_limit_is_configurable(make_crm, client_for):
    import cultiveat_segments.plugin

    crm = make_crm(
        plugins=[cultiveat_segments.plugin], environ={"CULTIVEAT_SEGMENTS_MAX_SEGMENTS": "4"}
    )
    service(crm).create(SYSTEM, {"name": "Fourth", "kind": "static"})
    with pytest.raises(Exception, match="at most 4 segments"):
        service(crm).create(SYSTEM, {"name": "Fifth", "kind": "static"})


def test_validation_errors_point_at_the_failing_condition(client):
    response = client.post(
        "/api/segments",
        json={
            "name": "Bad",
            "definition": {
                "all": [
                    {"field": "company_size", "op": "~", "value": 100},
                    {"any": [{"tag": "VIP"}, {"activity": "email_clickd", "within_days": 14}]},
                ]
            },
        },
    )
    assert response.status_code == 422
    errors = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert "definition.all[0].op" in errors and ">=, between" in errors["definition.all[0].op"]
    assert "unknown activity type 'email_clickd'" in errors["definition.all[1].any[1].activity"]
    assert "email_clicked" in errors["definition.all[1].any[1].activity"]
    check = client.post(
        "/api/segments/validate", json={"definition": {"not": {"purchase": "total_spent"}}}
    ).json()
    assert check["valid"] is False and check["errors"][0]["field"] == "definition.not.op"


def test_preview_counts_and_pages_an_unsaved_definition_without_saving_it(client, crm):
    _contacts(crm)
    before = len(by_name(client))
    response = client.post(
        "/api/segments/preview",
        json={
            "definition": {"all": [{"field": "company_size", "op": ">=", "value": 1000}]},
            "limit": 2,
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (
        body["count"] == 3
        and len(body["members"]) == 2
        and body["members"][0]["email"] == "ceo@big.com"
    )
    assert len(by_name(client)) == before
    unavailable = client.post(
        "/api/segments/preview", json={"definition": {"field": "score", "op": ">", "value": 1}}
    )
    assert unavailable.status_code == 422 and "scoring plugin" in unavailable.text


def test_members_are_paged_by_id_with_email(client, crm):
    _contacts(crm)
    created = client.post(
        "/api/segments",
        json={
            "name": "Big companies",
            "definition": {"field": "company_size", "op": ">", "value": 1000},
        },
    )
    assert created.status_code == 201, created.text
    seg = created.json()
    assert seg["member_count"] == 3
    first = client.get(f"/api/segments/{seg['id']}/members", params={"limit": 2}).json()
    assert [set(m) >= {"id", "email"} for m in first["items"]] == [True, True]
    rest = client.get(
        f"/api/segments/{seg['id']}/members", params={"after": first["next_after"]}
    ).json()
    assert len(rest["items"]) == 1 and rest["next_after"] is None


def test_roles_marketing_manage_sales_and_executive_read(client_for):
    definition = {"name": "By role", "definition": {"field": "company_size", "op": ">", "value": 1}}
    assert client_for("marketing").post("/api/segments", json=definition).status_code == 201
    for role in ("sales", "executive"):
        c = client_for(role)
        assert c.get("/api/segments").status_code == 200
        assert c.post("/api/segments", json={**definition, "name": role}).status_code == 403
        assert c.post("/api/segments/refresh").status_code == 403


def test_static_lists_and_manual_include_exclude_overrides(client, crm):
    ids = _contacts(crm)
    static = client.post("/api/segments", json={"name": "VIPs", "kind": "static"}).json()
    r = client.post(
        f"/api/segments/{static['id']}/contacts", json={"contact_ids": [ids["dev@big.com"]]}
    )
    assert r.status_code == 200 and r.json()["member_count"] == 1
    dynamic = client.post(
        "/api/segments",
        json={"name": "CEOs", "definition": {"field": "position", "op": "=", "value": "ceo"}},
    ).json()
    assert dynamic["member_count"] == 2
    client.post(
        f"/api/segments/{dynamic['id']}/contacts",
        json={"contact_ids": [ids["ceo@small.com"]], "mode": "exclude"},
    )
    client.post(
        f"/api/segments/{dynamic['id']}/contacts", json={"contact_ids": [ids["dev@big.com"]]}
    )
    emails = {
        m["email"] for m in client.get(f"/api/segments/{dynamic['id']}/members").json()["items"]
    }
    assert emails == {"ceo@big.com", "dev@big.com"}
    assert (
        client.post(f"/api/segments/{dynamic['id']}/refresh").json()["size"] == 2
    )  # overrides survive
    assert (
        client.delete(f"/api/segments/{dynamic['id']}/contacts/{ids['ceo@small.com']}").status_code
        == 200
    )
    emails = {
        m["email"] for m in client.get(f"/api/segments/{dynamic['id']}/members").json()["items"]
    }
    assert emails == {"ceo@big.com", "dev@big.com", "ceo@small.com"}
    tab = {s["name"]: s for s in client.get(f"/api/segments/contacts/{ids['dev@big.com']}").json()}
    assert (
        tab["CEOs"]["member"]
        and tab["CEOs"]["override"] == "include"
        and tab["CEOs"]["qualifies"] is False
    )
    bad = client.post(f"/api/segments/{dynamic['id']}/contacts", json={"contact_ids": [999999]})
    assert bad.status_code == 404


def test_segment_membership_conditions_and_cycles(client, crm):
    _contacts(crm)
    ceos = client.post(
        "/api/segments",
        json={"name": "CEOs", "definition": {"field": "position", "op": "=", "value": "ceo"}},
    ).json()
    big_ceos = client.post(
        "/api/segments",
        json={
            "name": "Big CEOs",
            "definition": {
                "all": [{"segment": ceos["id"]}, {"field": "company_size", "op": ">", "value": 100}]
            },
        },
    ).json()
    assert big_ceos["member_count"] == 1
    # refreshing a segment refreshes the segments built on it
    client.patch(f"/api/segments/{ceos['id']}", json={"definition": {"field": "position", "op": "contains",
                                                                       "value": "c"}})
    assert client.get(f"/api/segments/{big_ceos['id']}").json()["member_count"] == 2
    cycle = client.patch(
        f"/api/segments/{ceos['id']}", json={"definition": {"segment": big_ceos["id"]}}
    )
    assert cycle.status_code == 422 and "cycle" in cycle.text
    used = client.delete(f"/api/segments/{ceos['id']}")
    assert used.status_code == 409 and "Big CEOs" in used.json()["detail"]


def test_bad_bodies_get_4xx_not_500(client):
    assert 400 <= client.post("/api/segments", json=[1, 2]).status_code < 500
    assert client.post("/api/segments", json={"name": "", "definition": None}).status_code == 422
    assert client.post("/api/segments/preview", json={"definition": "x"}).status_code == 422
    assert client.get("/api/segments/424242").status_code == 404
    assert (
        client.post(
            "/api/segments", json={"name": "x", "definition": {"all": [{"not": {"not": 5}}]}}
        ).status_code
        == 422
    )


def test_cli_refreshes_one_segment_by_name(crm):
    from click.testing import CliRunner
    from cultiveat_segments.cli import segments_group

    _contacts(crm)
    result = CliRunner().invoke(segments_group(crm), ["refresh", "Enterprise Leads"])
    assert result.exit_code == 0, result.output
    assert "Enterprise Leads: 2 members" in result.output
    missing = CliRunner().invoke(segments_group(crm), ["refresh", "Nope"])
    assert missing.exit_code != 0 and "no segment named 'Nope'" in missing.output
    everything = CliRunner().invoke(segments_group(crm), ["refresh"])
    assert (
        "High Value Prospects: skipped: field 'score' is provided by the scoring plugin"
        in everything.output
    )


def test_contact_tab_and_builder_page_render(client, crm):
    from cultiveat_segments.ui import render_contact_tab

    ids = _contacts(crm)
    service(crm).refresh(SYSTEM)
    contact = crm.contacts.get(SYSTEM, ids["ceo@big.com"])
    html = str(render_contact_tab(crm=crm, actor=SYSTEM, contact=contact))
    assert "Contact Segments" in html and "Enterprise Leads" in html
    page = client.get("/segments/builder")
    assert page.status_code == 200 and "Segment builder" in page.text
    ui = {(item.kind, item.name) for item in crm.registry.ui()}
    assert ("contact_tab", "segments") in ui and ("nav", "segments") in ui
