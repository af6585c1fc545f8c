"""Request bodies are declared structures (``web/routes/bodies.py``, ``schemas.py`` and the
plugins' ``schemas.py``): unknown fields refused naming them, the bodies clients sent before
still accepted, and ``/schema`` describing every JSON body (no free-form ``dict`` left).
Through HTTP with the official plugins loaded, on SQLite and PostgreSQL."""

from __future__ import annotations

import msgspec
import pytest
from litestar.testing import TestClient

from cultiveat_core.domain import Actor
from cultiveat_core.web import create_app
from cultiveat_core.web.routes.bodies import UNSET, Body, UnsetType, present, whole_numbers

SYSTEM = Actor.system("tests")
# request bodies still described as an open object, on purpose: the scoring plugin's rule
# documents (their keys are in the description; docs/security.md, Known gaps)
OPEN_BODIES = {
    "PUT /api/scoring/rules",
    "POST /api/scoring/rules/validate",
    "POST /api/scoring/rules/items",
    "PATCH /api/scoring/rules/items/{rule_id}",
}


@pytest.fixture
def api(make_crm):
    crm = make_crm(cookie_secure=False, load_entrypoints=True)
    user = crm.users.create(SYSTEM, "bodies-admin@example.com", "admin")
    token = crm.tokens.create(SYSTEM, user, name="tests")[1]
    with TestClient(create_app(crm, run_jobs=False), raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


def test_present_leaves_out_what_was_not_sent():
    class Change(Body):
        name: str | UnsetType = UNSET
        note: str | UnsetType | None = UNSET

    assert present(msgspec.json.decode(b'{"note": null}', type=Change)) == {"note": None}
    assert present(Change()) == {}
    with pytest.raises(msgspec.ValidationError, match="unknown field `is_admin`"):
        msgspec.json.decode(b'{"is_admin": true}', type=Change)
    assert whole_numbers({"a": [3.0, 2.5], "b": {"c": 7.0}}) == {"a": [3, 2.5], "b": {"c": 7}}


def test_unknown_fields_are_refused_naming_them(api):
    sent = {"email": "ann@example.com", "first_name": "Ann", "last_name": "Lee", "is_admin": True}
    answer = api.post("/api/contacts", json=sent)
    assert answer.status_code == 400
    assert "is_admin" in answer.text and answer.json()["errors"][0]["source"] == "body"
    answer = api.post("/api/campaigns/templates", json={"name": "T", "subject": "S",
                                                        "body_text": "x", "owner_id": 1})
    assert answer.status_code == 400 and "owner_id" in answer.text
    # a wrong type names the field too
    answer = api.post("/api/contacts", json={**sent, "is_admin": None, "first_name": 5})
    assert answer.status_code == 400


def test_bodies_that_worked_before_still_work(api):
    contact = api.post("/api/contacts", json={"email": "bo@example.com", "first_name": "Bo",
                                              "last_name": "Ek", "company_size": "1,200",
                                              "address": {"country": "Germany"}})
    assert contact.status_code == 201, contact.text
    assert contact.json()["company_size"] == 1200
    cid = contact.json()["id"]
    # the service's own 422s keep naming the field
    answer = api.post("/api/contacts", json={"email": "x@example.com", "first_name": "X",
                                             "last_name": "Y", "stage": "Nowhere"})
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "stage"
    activity = api.post(f"/api/contacts/{cid}/activities", json={
        "type": "page_visit", "occurred_at": "2024-01-15T14:45:00Z",
        "data": {"url": "/pricing", "anything": {"nested": [1, 2]}}})
    assert activity.status_code == 201, activity.text
    assert activity.json()["data"]["anything"] == {"nested": [1, 2]}
    template = api.post("/api/campaigns/templates", json={
        "name": "Welcome", "subject": "Hi {{first_name}}", "body_html": "<p>Hi</p>",
        "body_text": "Hi"})
    assert template.status_code == 201, template.text
    tid = template.json()["id"]
    preview = api.post(f"/api/campaigns/templates/{tid}/preview", json={"contact_id": cid})
    assert preview.status_code == 200 and preview.json()["subject"] == "Hi Bo"
    campaign = api.post("/api/campaigns", json={"name": "C1", "template_id": tid,
                                                "audience": {"contact_ids": [cid]}})
    assert campaign.status_code == 201, campaign.text
    assert campaign.json()["audience"] == {"contact_ids": [cid]}
    segment = api.post("/api/segments", json={"name": "Big", "definition": {
        "all": [{"field": "company_size", "op": ">", "value": 100.0}]}})
    assert segment.status_code == 201, segment.text
    by_segment = api.post("/api/campaigns", json={"name": "C2", "template_id": tid,
                                                  "audience": {"segment_id": segment.json()["id"]}})
    assert by_segment.status_code == 201, by_segment.text
    both = api.post("/api/campaigns", json={"name": "C3", "template_id": tid, "audience": {
        "contact_ids": [cid], "segment_id": segment.json()["id"]}})
    assert both.status_code == 422 and both.json()["errors"][0]["field"] == "audience"


def test_the_schema_describes_every_json_body(api):
    document = api.get("/schema/openapi.json").json()
    components = document["components"]["schemas"]
    open_bodies, closed = [], 0
    for path, item in document["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, operation in item.items():
            content = (operation.get("requestBody") or {}).get("content", {})
            schema = (content.get("application/json") or {}).get("schema")
            if schema is None:
                continue
            label = f"{method.upper()} {path}"
            # an optional body: {"oneOf": [{"$ref": ...}, {"type": "null"}]}
            refs = [s for s in schema.get("oneOf", [schema]) if s.get("type") != "null"]
            ref = refs[0].get("$ref", "").rsplit("/", 1)[-1] if len(refs) == 1 else ""
            if not ref:
                # a body its service checks field by field (every problem in one 422): the
                # schema is written out in place (segment preferences, the reminders example)
                if schema.get("additionalProperties") is False and schema.get("properties"):
                    closed += 1
                else:
                    open_bodies.append(label)
                continue
            assert components[ref].get("additionalProperties") is False, label
            assert components[ref].get("description"), f"{label}: {ref} has no description"
            closed += 1
    assert sorted(open_bodies) == sorted(OPEN_BODIES)
    assert closed >= 35  # 39 with the official plugins and examples
