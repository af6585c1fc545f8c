"""The list's typed custom-field filters (the same answer on SQLite and PostgreSQL) and the
request path's bookkeeping (a token's last use is written at most once a minute)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from cultiveat_core.db import tables
from cultiveat_core.db.metadata import utcnow
from cultiveat_core.domain import Actor
from cultiveat_core.markers import hookimpl

from .conftest import person


def _emails(client, params) -> set[str]:
    response = client.get("/api/contacts", params=params)
    assert response.status_code == 200, response.text
    return {c["email"] for c in response.json()["items"]}


def test_custom_field_filters_compare_by_type_on_every_database(client):
    for field in (
        {"name": "newsletter", "label": "Newsletter", "type": "bool"},
        {"name": "seats", "label": "Seats", "type": "number"},
        {"name": "renewal", "label": "Renewal", "type": "date"},
        {"name": "tier", "label": "Tier", "type": "choice", "choices": ["Gold", "Silver"]},
    ):
        assert client.post("/api/custom-fields", json=field).status_code == 201
    rows = [
        person(1, custom={"newsletter": True, "seats": 12, "renewal": "2027-01-31", "tier": "gold"}),
        person(2, custom={"newsletter": "no", "seats": "12.5", "tier": "Silver"}),
        person(3, custom={"newsletter": "yes", "seats": 3}),
        person(4),
    ]
    for row in rows:
        assert client.post("/api/contacts", json=row).status_code == 201
    one, two, three = "person1@example.com", "person2@example.com", "person3@example.com"
    # booleans: JSON true is `true` on PostgreSQL and 1 through SQLite's json_extract
    for spelled in ("true", "1", "yes", "TRUE"):
        assert _emails(client, {"custom.newsletter": spelled}) == {one, three}, spelled
    for spelled in ("false", "0", "no"):
        assert _emails(client, {"custom.newsletter": spelled}) == {two}, spelled
    assert _emails(client, {"custom.newsletter": ["true", "false"]}) == {one, two, three}
    # numbers compare as numbers (12 == 12.0), not as the text the client typed
    assert _emails(client, {"custom.seats": "12.0"}) == {one}
    assert _emails(client, {"custom.seats": "12.5"}) == {two}
    assert _emails(client, {"custom.seats": ["3", "12"]}) == {one, three}
    assert _emails(client, {"custom.renewal": "2027-01-31"}) == {one}
    assert _emails(client, {"custom.tier": "GOLD"}) == {one}
    # combined with a built-in filter and with each other
    assert _emails(client, {"custom.newsletter": "true", "custom.seats": "3"}) == {three}
    for params, field in (
        ({"custom.newsletter": "maybe"}, "custom.newsletter"),
        ({"custom.seats": "many"}, "custom.seats"),
        ({"custom.renewal": "soon"}, "custom.renewal"),
        ({"custom.tier": "Bronze"}, "custom.tier"),
    ):
        bad = client.get("/api/contacts", params=params)
        assert bad.status_code == 422, (params, bad.text)
        assert [e["field"] for e in bad.json()["errors"]] == [field]


def test_a_text_value_true_is_not_the_boolean_true(client, crm):
    assert client.post(
        "/api/custom-fields", json={"name": "flag", "label": "Flag", "type": "bool"}
    ).status_code == 201
    assert client.post("/api/contacts", json=person(1, custom={"flag": True})).status_code == 201
    created = client.post("/api/contacts", json=person(2)).json()
    # a value written before the field was typed (raw JSON text): not a boolean
    with crm.begin() as conn:
        conn.execute(
            tables.contacts.update()
            .where(tables.contacts.c.id == created["id"])
            .values(custom={"flag": "true"})
        )
    assert _emails(client, {"custom.flag": "true"}) == {"person1@example.com"}


def test_token_last_use_is_written_at_most_once_a_minute(crm, client_for):
    from litestar.testing import TestClient

    from cultiveat_core.web import create_app

    system = Actor.system("tests")
    user = crm.users.create(system, "reader@example.com", "marketing")
    token, plain = crm.tokens.create(system, user, name="reader")
    tokens = tables.api_tokens

    def last_used():
        with crm.engine.connect() as conn:
            return conn.execute(
                sa.select(tokens.c.last_used_at).where(tokens.c.id == token.id)
            ).scalar_one()

    assert last_used() is None
    with TestClient(create_app(crm, run_jobs=False)) as client:
        client.headers["Authorization"] = f"Bearer {plain}"
        assert client.get("/api/contacts").status_code == 200
        first = last_used()
        assert first is not None
        crm.tokens.clear_cache()
        assert client.get("/api/contacts").status_code == 200
        assert last_used() == first
        # older than a minute: the next request records the new use
        earlier = utcnow() - timedelta(minutes=5)
        with crm.begin() as conn:
            conn.execute(tokens.update().where(tokens.c.id == token.id).values(last_used_at=earlier))
        crm.tokens.clear_cache()
        assert client.get("/api/contacts").status_code == 200
        assert last_used() > earlier + timedelta(minutes=4)


def test_tag_and_owner_filters_either_way_round(client, crm, monkeypatch):
    from cultiveat_core.services import listing

    for n in range(1, 7):
        tags = ["Common"] + (["Rare"] if n == 3 else [])
        assert client.post("/api/contacts", json=person(n, tags=tags)).status_code == 201
    expected_common = {f"person{n}@example.com" for n in range(1, 7)}
    # SQLite picks probing (EXISTS) above the threshold and IN below: both give the same rows
    for threshold in (0, 1, 10_000):
        monkeypatch.setattr(listing, "SQLITE_TAG_PROBE_ABOVE", threshold)
        assert _emails(client, {"tag": "common"}) == expected_common
        assert _emails(client, {"tag": "Rare"}) == {"person3@example.com"}
        assert _emails(client, {"tag": ["rare", "common"]}) == {"person3@example.com"}
        assert _emails(client, {"tag": "missing"}) == set()
    me = client.get("/api/contacts", params={"owner": "me", "limit": 1}).json()["items"][0]
    assert me["owner"] is not None
    assert _emails(client, {"owner": "me"}) == expected_common
    assert _emails(client, {"owner": me["owner"].upper()}) == expected_common
    assert _emails(client, {"owner": str(me["owner_id"])}) == expected_common
    assert _emails(client, {"owner": ["nobody@example.com", str(me["owner_id"])]}) == expected_common
    assert _emails(client, {"owner": "nobody@example.com"}) == set()


class HeaderActorPlugin:
    """A plugin deciding who a request is (takes precedence over the default token lookup)."""

    @hookimpl
    def actor_from_request(self, crm, request):
        if request.headers.get("x-test-actor"):
            return Actor.system("plugin-decided")
        return None


def _request(headers: dict[str, str]):
    from litestar import Request

    return Request(
        scope={
            "type": "http",
            "method": "GET",
            "path": "/api/contacts",
            "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
            "query_string": b"",
            "app": None,
        }
    )


def test_cached_token_actor_only_when_no_plugin_decides(make_crm):
    from cultiveat_core.web.auth import cached_token_actor

    for plugins, expect_cached in (([], True), ([HeaderActorPlugin()], False)):
        crm = make_crm(plugins=plugins, token_cache_seconds=30.0)
        system = Actor.system("tests")
        user = crm.users.create(system, "cached@example.com", "marketing")
        _, plain = crm.tokens.create(system, user, name="t")
        request = _request({"authorization": f"Bearer {plain}", "x-request-id": "req-1"})
        assert cached_token_actor(crm, request) is None  # nothing cached yet
        assert crm.tokens.authenticate(plain) is not None  # now cached
        fast = cached_token_actor(crm, request)
        if expect_cached:
            assert fast is not None and fast.user_id == user.id and fast.request_id == "req-1"
        else:
            assert fast is None
        assert cached_token_actor(crm, _request({"authorization": "Basic abc"})) is None
        assert cached_token_actor(crm, _request({"authorization": "Bearer cvt_unknown"})) is None


def test_a_revoked_token_stops_at_once_even_when_cached(make_crm):
    from litestar.testing import TestClient

    from cultiveat_core.web import create_app

    crm = make_crm(token_cache_seconds=300.0)
    system = Actor.system("tests")
    user = crm.users.create(system, "revoked@example.com", "marketing")
    token, plain = crm.tokens.create(system, user, name="t")
    with TestClient(create_app(crm, run_jobs=False)) as client:
        client.headers["Authorization"] = f"Bearer {plain}"
        assert client.get("/api/contacts").status_code == 200
        assert client.get("/api/contacts").status_code == 200  # from the cache
        crm.tokens.revoke(system, token.id)
        assert client.get("/api/contacts").status_code == 401


def test_hot_leads_kpi_follows_every_stage_change(client, crm):
    def hot() -> int:
        return client.get("/api/contacts/kpis").json()["hot_leads"]

    ids = []
    for n in range(1, 6):
        made = client.post("/api/contacts", json=person(n, stage="Hot Lead" if n <= 3 else "Qualified"))
        assert made.status_code == 201
        ids.append(made.json()["id"])
    assert hot() == 3
    assert client.patch(f"/api/contacts/{ids[0]}", json={"stage": "Customer"}).status_code == 200
    assert client.patch(f"/api/contacts/{ids[1]}", json={"first_name": "Renamed"}).status_code == 200
    assert hot() == 2
    bulk = client.post("/api/contacts/bulk", json={"action": "set_stage", "ids": ids[3:], "value": "Hot Lead"})
    assert bulk.status_code == 200, bulk.text
    assert hot() == 4
    assert client.delete(f"/api/contacts/{ids[1]}").status_code in (200, 204)
    assert hot() == 3
    gone = client.post("/api/contacts/bulk", json={"action": "delete", "filter": {"stage": ["Hot Lead"]}})
    assert gone.status_code == 200, gone.text
    assert hot() == 0
    with crm.engine.connect() as conn:  # the counters agree with the rows, stage by stage
        counted = dict(
            conn.execute(
                sa.select(tables.contacts.c.stage, sa.func.count()).group_by(tables.contacts.c.stage)
            ).all()
        )
        kept = dict(
            conn.execute(
                sa.select(tables.contact_stage_counts.c.stage, tables.contact_stage_counts.c.total)
            ).all()
        )
    assert {k: v for k, v in kept.items() if v} == counted
