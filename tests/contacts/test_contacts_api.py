"""Contacts over HTTP: validation, ETags, tags, custom fields, list, search, KPIs, bulk."""

from __future__ import annotations

import threading

import pytest

from cultiveat_core.domain import ContactField, Kpi
from cultiveat_core.markers import hookimpl

from .conftest import person


def test_create_normalises_and_validates_every_field(client):
    created = client.post(
        "/api/contacts",
        json={
            "email": " Ann@Example.COM ",
            "first_name": " Ann ",
            "last_name": "Lee",
            "phone": "+1 (555) 321-0987",
            "address": {
                "street": "1 Main St",
                "city": "Boston",
                "state": "Massachusetts",
                "zip": "02110",
                "country": "United States",
            },
            "social": {"linkedin": "linkedin.com/in/annlee", "skype": "live:ann.lee"},
            "type": "investor",
            "channel": "webinar",
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["email"] == "Ann@example.com"
    assert body["phone"] == "+15553210987"
    assert body["phone_display"] == "+1 (555) 321-0987"
    assert body["address"] == {
        "street": "1 Main St",
        "city": "Boston",
        "state": "MA",
        "zip": "02110",
        "country": "US",
    }
    assert body["social"]["linkedin"] == "https://linkedin.com/in/annlee"
    assert (body["type"], body["channel"], body["stage"]) == ("Investor", "Webinar", "Cold Lead")
    duplicate = client.post(
        "/api/contacts", json={"email": "ann@example.com", "first_name": "A", "last_name": "B"}
    )
    assert duplicate.status_code == 409


def test_bad_fields_are_422_with_what_to_fix(client):
    response = client.post(
        "/api/contacts",
        json={
            "email": "not-an-email",
            "first_name": "x" * 101,
            "last_name": "",
            "phone": "+1 555",
            "address": {"country": "US", "zip": "ABCDE", "state": "Narnia"},
            "social": {"twitter": "not a url"},
            "stage": "Maybe",
            "tags": ["y" * 31],
            "company_size": "many",
        },
    )
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {
        "email",
        "first_name",
        "last_name",
        "phone",
        "address.zip",
        "address.state",
        "social.twitter",
        "stage",
        "tags",
        "company_size",
    } <= fields
    assert "100" in next(
        e["message"] for e in response.json()["errors"] if e["field"] == "first_name"
    )
    assert client.get("/api/contacts").json()["items"] == []


def test_stale_etag_gets_412_and_concurrent_updates_apply_once(client, crm):
    contact = client.post("/api/contacts", json=person(1)).json()
    etag = client.get(f"/api/contacts/{contact['id']}").headers["etag"]
    results = []

    def patch(name):
        results.append(
            client.patch(
                f"/api/contacts/{contact['id']}",
                json={"position": name},
                headers={"If-Match": etag},
            ).status_code
        )

    threads = [threading.Thread(target=patch, args=(n,)) for n in ("CEO", "CTO")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 412]
    assert (
        client.patch(f"/api/contacts/{contact['id']}", json={"notes": "no If-Match"}).status_code
        == 200
    )


def test_initial_tags_from_form_fields_and_custom_fields(client):
    for field in (
        {"name": "utility_type", "label": "Utility type"},
        {"name": "biggest_challenge", "label": "Biggest challenge"},
        {"name": "subscribed", "label": "Subscribed", "type": "bool"},
        {"name": "budget", "label": "Budget", "type": "number"},
    ):
        assert client.post("/api/custom-fields", json=field).status_code == 201
    created = client.post(
        "/api/contacts",
        json={
            **person(1),
            "position": "CEO",
            "tags": ["VIP"],
            "custom": {
                "utility_type": "Water",
                "biggest_challenge": "Billing",
                "subscribed": "yes",
                "budget": "1200",
            },
        },
    )
    assert created.status_code == 201, created.text
    assert set(created.json()["tags"]) == {"VIP", "CEO", "Water", "Billing", "Subscribed"}
    assert created.json()["custom"]["budget"] == 1200
    bad = client.post("/api/contacts", json={**person(2), "custom": {"budget": "lots", "nope": 1}})
    assert {e["field"] for e in bad.json()["errors"]} == {"custom.budget", "custom.nope"}
    listed = client.get("/api/contacts", params={"custom.utility_type": "water"}).json()["items"]
    assert [c["email"] for c in listed] == ["person1@example.com"]


def test_list_filters_sort_and_keyset_pages(client, crm, samples):
    crm.contacts.create_many(
        crm_actor(),
        [person(n, company="Acme", stage="Qualified", company_size=n * 10) for n in range(1, 8)],
    )
    page = client.get("/api/contacts", params={"stage": "Hot Lead", "sort": "last_name"}).json()
    assert [c["last_name"] for c in page["items"]] == ["Johnson", "Thompson"]
    seen, cursor = [], None
    while True:
        params = {
            "company": "acme",
            "sort": "-company_size",
            "limit": 3,
            **({"cursor": cursor} if cursor else {}),
        }
        body = client.get("/api/contacts", params=params).json()
        seen += [c["company_size"] for c in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == [70, 60, 50, 40, 30, 20, 10]
    both = client.get("/api/contacts", params={"tag": ["Enterprise", "Priority"]}).json()["items"]
    assert [c["email"] for c in both] == ["sarah.johnson@techcorp.com"]
    stale = client.get("/api/contacts", params={"stale": "true", "size_min": 1000}).json()["items"]
    assert {c["company_size"] for c in stale} == {1200, 2500} and all(c["stale"] for c in stale)
    by_company = client.get("/api/contacts", params={"sort": "company", "limit": 50}).json()[
        "items"
    ]
    assert by_company[0]["company"] == "Acme"
    assert client.get("/api/contacts", params={"sort": "shoe_size"}).status_code == 422
    assert client.get("/api/contacts", params={"colour": "red"}).status_code == 422
    assert client.get("/api/contacts", params={"cursor": "garbage"}).status_code == 422


def crm_actor():
    from cultiveat_core.domain import Actor

    return Actor.system("tests")


SEARCHES = [
    ("thomp", {"d.thompson@futuretech.net"}),
    ("GROWTH", {"emily.r@growthco.com"}),
    ("cto", {"m.chen@innovatetech.io", "emily.r@growthco.com"}),
    ("decision mak", {"m.chen@innovatetech.io"}),
    ("vp", {"sarah.johnson@techcorp.com"}),
    ("zzzz", set()),
]


def test_search_by_name_company_position_tags(client, samples):
    for term, expected in SEARCHES:
        items = client.get("/api/contacts", params={"q": term}).json()["items"]
        assert {c["email"] for c in items} == expected, term


def test_search_follows_tag_changes(client, samples):
    contact_id = samples[1].id
    assert (
        client.patch(f"/api/contacts/{contact_id}", json={"tags": ["Webinar Fan"]}).status_code
        == 200
    )
    assert [
        c["id"] for c in client.get("/api/contacts", params={"q": "webinar fan"}).json()["items"]
    ] == [contact_id]
    assert (
        client.post(
            "/api/tags/rename", json={"name": "Webinar Fan", "new_name": "Event Lover"}
        ).status_code
        == 200
    )
    assert client.get("/api/contacts", params={"q": "webinar fan"}).json()["items"] == []
    assert [
        c["id"] for c in client.get("/api/contacts", params={"q": "event lover"}).json()["items"]
    ] == [contact_id]


def test_score_filter_needs_a_scoring_plugin(client, samples):
    response = client.get("/api/contacts", params={"score_min": 80})
    assert response.status_code == 422
    assert "scoring plugin" in response.json()["errors"][0]["message"]


class ScorePlugin:
    """A stand-in scoring plugin: score = company size / 30, and an average-score KPI."""

    @hookimpl
    def register_contact_fields(self):
        return [
            ContactField(name="score", label="Score", expression=lambda c: c.c.company_size / 30)
        ]

    @hookimpl
    def register_kpis(self):
        return [Kpi(name="average_score", label="Avg. score", compute=lambda crm, conn, actor: 42)]


def test_plugin_fields_filter_sort_and_kpis(make_crm, client_for):
    crm = make_crm(plugins=[ScorePlugin()])
    from litestar.testing import TestClient

    from cultiveat_core.demo import SAMPLE_CONTACTS
    from cultiveat_core.testing import token_for
    from cultiveat_core.web import create_app

    crm.contacts.create_many(crm_actor(), SAMPLE_CONTACTS)
    with TestClient(create_app(crm, run_jobs=False)) as client:
        client.headers["Authorization"] = f"Bearer {token_for(crm, 'admin')}"
        items = client.get("/api/contacts", params={"score_min": 30, "sort": "-score"}).json()[
            "items"
        ]
        assert [c["company_size"] for c in items] == [2500, 1200]
        assert items[0]["fields"]["score"] == pytest.approx(2500 / 30)
        kpis = client.get("/api/contacts/kpis").json()
        assert kpis["average_score"] == 42
        assert kpis["total_contacts"]["all"] == 4


def test_kpis_from_counters(client, crm, samples):
    kpis = client.get("/api/contacts/kpis").json()
    assert kpis["total_contacts"] == {"all": 4, "this_month": 4, "last_month": 0}
    assert kpis["hot_leads"] == 2
    assert kpis["companies"] == 4
    client.delete(f"/api/contacts/{samples[0].id}")
    assert client.get("/api/contacts/kpis").json()["total_contacts"]["all"] == 3


def test_bulk_by_ids_and_by_filter_in_one_transaction(client, crm, samples):
    ids = [c.id for c in samples[:2]]
    response = client.post(
        "/api/contacts/bulk", json={"action": "add_tags", "ids": ids, "tags": ["Q1 Push"]}
    )
    assert response.status_code == 200, response.text
    assert client.get("/api/contacts", params={"tag": "q1 push"}).json()["items"].__len__() == 2
    response = client.post(
        "/api/contacts/bulk",
        json={"action": "set_stage", "filter": {"tag": "Q1 Push"}, "value": "Customer"},
    )
    assert response.json()["count"] == 2
    assert {
        c["stage"] for c in client.get("/api/contacts", params={"tag": "Q1 Push"}).json()["items"]
    } == {"Customer"}
    removed = client.post(
        "/api/contacts/bulk",
        json={"action": "remove_tags", "filter": {"tag": "Q1 Push"}, "tags": ["Q1 Push"]},
    )
    assert removed.json()["count"] == 2
    assert client.get("/api/contacts", params={"q": "q1 push"}).json()["items"] == []
    bad = client.post(
        "/api/contacts/bulk", json={"action": "set_stage", "ids": ids, "value": "Nope"}
    )
    assert bad.status_code == 422
    deleted = client.post(
        "/api/contacts/bulk", json={"action": "delete", "filter": {"stage": "Customer"}}
    )
    assert deleted.json()["count"] == 2
    import sqlalchemy as sa

    with crm.engine.connect() as conn:
        audit = (
            conn.execute(
                sa.text(
                    "SELECT action FROM core_audit_log WHERE action LIKE 'contact.bulk%' "
                    "ORDER BY id"
                )
            )
            .scalars()
            .all()
        )
    assert audit == [
        "contact.bulk_add_tags",
        "contact.bulk_set_stage",
        "contact.bulk_remove_tags",
        "contact.bulk_delete",
    ]


def test_sales_may_bulk_change_only_their_own(client_for, crm, samples):
    sales = client_for("sales")
    response = sales.post(
        "/api/contacts/bulk", json={"action": "set_stage", "ids": [samples[0].id], "value": "Lost"}
    )
    assert response.status_code == 403
    assert crm.contacts.get(crm_actor(), samples[0].id).stage == "Hot Lead"


def test_tags_autocomplete_rename_merge(client, samples):
    items = client.get("/api/tags", params={"prefix": "en"}).json()["items"]
    assert items[0] == {"name": "Enterprise", "contacts": 2}
    merged = client.post("/api/tags/rename", json={"name": "Priority", "new_name": "enterprise"})
    assert merged.json() == {"name": "enterprise", "contacts": 1, "merged": True}
    assert len(client.get("/api/contacts", params={"tag": "Enterprise"}).json()["items"]) == 2
    assert (
        client.post("/api/tags/rename", json={"name": "CEO", "new_name": "x" * 31}).status_code
        == 422
    )


def test_companies_are_records(client, samples):
    found = client.get("/api/companies", params={"q": "growth"}).json()["items"]
    assert [c["name"] for c in found] == ["GrowthCo"]
    assert client.get(f"/api/companies/{found[0]['id']}").json()["contacts"] == 1


ENDPOINTS = [
    ("get", "/api/contacts", None),
    ("post", "/api/contacts", {"email": "a@b.co", "first_name": "a", "last_name": "b"}),
    ("get", "/api/contacts/1", None),
    ("patch", "/api/contacts/1", {"notes": "x"}),
    ("delete", "/api/contacts/1", None),
    ("get", "/api/contacts/kpis", None),
    ("get", "/api/contacts/export", None),
    ("post", "/api/contacts/bulk", {"action": "delete", "ids": [1]}),
    ("get", "/api/contacts/1/duplicates", None),
    ("post", "/api/contacts/1/merge", {"merge_id": 2}),
    ("get", "/api/contacts/1/activities", None),
    ("post", "/api/contacts/1/activities", {"type": "email_opened"}),
    ("get", "/api/tags", None),
    ("post", "/api/tags/rename", {"name": "CEO", "new_name": "Chief"}),
    ("delete", "/api/tags/CEO", None),
    ("get", "/api/companies", None),
    ("get", "/api/companies/1", None),
    ("get", "/api/custom-fields", None),
    ("post", "/api/custom-fields", {"name": "x", "label": "X"}),
    ("post", "/api/activities/bulk", {"items": [{"contact_id": 1, "type": "email_opened"}]}),
    ("get", "/api/imports/abc", None),
]


def test_every_endpoint_rejects_a_token_without_permission(unscoped_client, samples):
    for method, path, body in ENDPOINTS:
        kwargs = {"json": body} if body is not None else {}
        response = getattr(unscoped_client, method)(path, **kwargs)
        assert response.status_code == 403, (method, path, response.status_code, response.text)
    upload = unscoped_client.post(
        "/api/imports", files={"file": ("c.csv", b"email,first name,last name\n")}
    )
    assert upload.status_code == 403


def test_executive_reads_but_cannot_write(client_for, samples):
    executive = client_for("executive")
    assert executive.get("/api/contacts").status_code == 200
    assert executive.patch(f"/api/contacts/{samples[0].id}", json={"notes": "x"}).status_code == 403
    assert executive.get("/api/contacts/export").status_code == 403
