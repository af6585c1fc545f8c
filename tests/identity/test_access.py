"""Authorisation over HTTP as non-admin users: scopes, roles, IDOR, masking, audit visibility."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from cultiveat_core.db import tables
from cultiveat_core.db.metadata import utcnow

from .conftest import SYSTEM, audit_actions

ANN = {"email": "ann@example.com", "first_name": "Ann", "last_name": "Lee", "phone": "+33 1 23 45 67 89",
       "notes": "prefers calls after 5pm"}


def bearer(app, token):
    from litestar.testing import TestClient

    client = TestClient(app, raise_server_exceptions=False)
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def test_scoped_expiring_revocable_tokens_with_last_use(crm, app, client_for):
    sales = client_for("sales")
    made = sales.post("/api/tokens", json={"name": "read only", "scopes": ["contacts.read"],
                                           "expires_in_days": 7})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["token"].startswith("cvt_") and body["expires_at"]
    scoped = bearer(app, body["token"])
    assert scoped.get("/api/contacts").status_code == 200
    denied = scoped.post("/api/contacts", json=ANN)
    assert denied.status_code == 403 and "scopes" in denied.json()["detail"]
    listed = sales.get("/api/tokens").json()["items"]
    mine = next(t for t in listed if t["id"] == body["id"])
    assert mine["last_used_at"] is not None and "token" not in mine
    with crm.engine.connect() as conn:  # stored hashed, never in clear
        stored = conn.execute(sa.select(tables.api_tokens.c.token_hash)
                              .where(tables.api_tokens.c.id == body["id"])).scalar()
    assert stored != body["token"] and len(stored) == 64
    assert sales.delete(f"/api/tokens/{body['id']}").status_code == 204
    assert scoped.get("/api/contacts").status_code == 401
    # expired tokens stop working
    user = crm.users.create(SYSTEM, "exp@example.com", "sales")
    token, plain = crm.tokens.create(SYSTEM, user, name="soon", expires_at=utcnow() + timedelta(seconds=60))
    with crm.begin() as conn:
        conn.execute(tables.api_tokens.update().where(tables.api_tokens.c.id == token.id)
                     .values(expires_at=utcnow() - timedelta(seconds=1)))
    assert bearer(app, plain).get("/api/contacts").status_code == 401
    # a scope that is not a permission is refused
    assert sales.post("/api/tokens", json={"scopes": ["everything"]}).status_code == 422


def test_admin_defined_role_and_role_changes_are_admin_only(crm, app, client, client_for):
    marketing = client_for("marketing")
    refused = marketing.put("/api/roles/analyst", json={"permissions": ["contacts.read"]})
    assert refused.status_code == 403
    assert "analyst" not in crm.permissions.roles()
    made = client.put("/api/roles/analyst", json={"permissions": ["contacts.read", "activities.read"],
                                                   "description": "read-only analysts"})
    assert made.status_code == 200, made.text
    assert client.put("/api/roles/analyst", json={"permissions": ["no.such"]}).status_code == 422
    assert client.put("/api/roles/admin", json={"permissions": []}).status_code == 422
    user = client.post("/api/users", json={"email": "an@example.com", "role": "analyst"})
    assert user.status_code == 201, user.text
    _, plain = crm.tokens.create(SYSTEM, crm.users.get_by_id(user.json()["id"]))
    analyst = bearer(app, plain)
    assert analyst.get("/api/contacts").status_code == 200
    assert analyst.post("/api/contacts", json=ANN).status_code == 403
    # a built-in role can be narrowed too; executives lose contact reading here
    client.put("/api/roles/executive", json={"permissions": ["activities.read"]})
    crm.permissions.clear_cache()
    assert client_for("executive").get("/api/contacts").status_code == 403
    assert audit_actions(crm, "role.define")
    assert client.delete("/api/roles/analyst").status_code == 409  # still held by a user


def test_idor_on_object_routes_changes_nothing(crm, client, client_for):
    owner_contact = client.post("/api/contacts", json=ANN).json()  # owned by the admin
    sales = client_for("sales")
    before = client.get(f"/api/contacts/{owner_contact['id']}").json()
    assert sales.patch(f"/api/contacts/{owner_contact['id']}", json={"first_name": "X"}).status_code == 403
    assert sales.delete(f"/api/contacts/{owner_contact['id']}").status_code == 403
    after = client.get(f"/api/contacts/{owner_contact['id']}").json()
    assert after == before
    # other users' records
    other = crm.users.create(SYSTEM, "other@example.com", "sales")
    token, plain = crm.tokens.create(SYSTEM, other, name="theirs")
    assert sales.get(f"/api/users/{other.id}").status_code == 403
    assert sales.patch(f"/api/users/{other.id}", json={"role": "admin"}).status_code == 403
    assert sales.delete(f"/api/tokens/{token.id}").status_code == 404
    assert crm.tokens.authenticate(plain) is not None
    assert sales.get(f"/api/tokens?user_id={other.id}").status_code == 403
    assert crm.users.get_by_id(other.id).role == "sales"
    # mass assignment: undeclared fields are refused, not ignored
    me = sales.get("/api/users/me").json()["user"]
    assert client.patch(f"/api/users/{me['id']}", json={"role": "marketing", "password_hash": "x"}).status_code == 400
    assert sales.post("/api/tokens", json={"name": "x", "user_id": other.id}).status_code == 403


def test_sales_own_contacts_and_transfer_permission(crm, client_for):
    sales = client_for("sales")
    mine = sales.post("/api/contacts", json=ANN).json()
    me = sales.get("/api/users/me").json()["user"]
    assert mine["owner_id"] == me["id"]  # created by a user: owned by that user
    assert sales.patch(f"/api/contacts/{mine['id']}", json={"position": "CEO"}).status_code == 200
    assert crm.permissions.for_role("marketing") >= {"contacts.transfer"}
    assert "contacts.transfer" not in crm.permissions.for_role("sales")
    assert "contacts.read" in crm.permissions.for_role("executive")


def test_sensitive_fields_masked_without_permission(crm):
    contact = crm.contacts.create(SYSTEM, ANN)
    data = contact.as_dict()
    executive = crm.users.actor_for(crm.users.create(SYSTEM, "ex@example.com", "executive"))
    sales = crm.users.actor_for(crm.users.create(SYSTEM, "sa@example.com", "sales"))
    masked = crm.fields_policy.mask(executive, data)
    assert masked["phone"].endswith("89") and "23 45" not in masked["phone"]
    assert masked["notes"] == "***" and masked["email"] == data["email"]
    assert crm.fields_policy.mask(sales, data) == data
    c = tables.contacts
    with crm.engine.connect() as conn:
        row = conn.execute(sa.select(
            crm.fields_policy.export_expression(executive, "phone", c.c.phone),
            crm.fields_policy.export_expression(executive, "notes", c.c.notes),
            crm.fields_policy.export_expression(sales, "phone", c.c.phone),
        )).one()
    assert row[0].endswith("89") and "23" not in row[0] and row[1] == "***" and row[2] == contact.phone


def test_audit_api_filters_and_visibility(crm, client, client_for):
    sales = client_for("sales")
    mine = sales.post("/api/contacts", json=ANN).json()
    client.post("/api/contacts", json={"email": "z@example.com", "first_name": "Z", "last_name": "Z"})
    everything = client.get("/api/audit", params={"action": "contact.create"}).json()["items"]
    assert len(everything) == 2
    visible = sales.get("/api/audit").json()["items"]
    assert visible and all(r["object_id"] == str(mine["id"]) or r["actor_id"] is not None for r in visible)
    assert not [r for r in visible if r["object_type"] == "contact" and r["object_id"] != str(mine["id"])]
    assert client.get("/api/audit", params={"action": "contact."}).json()["items"]
    rid = client.post("/api/contacts", json={"email": "r@example.com", "first_name": "R", "last_name": "R"},
                      headers={"X-Request-ID": "req-12345"})
    assert rid.status_code == 201
    by_request = client.get("/api/audit", params={"request_id": "req-12345"}).json()["items"]
    assert [r["action"] for r in by_request] == ["contact.create"]
    assert sales.get("/api/audit/verify").status_code == 403
