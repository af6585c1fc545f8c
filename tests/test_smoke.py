"""The minimal contract end to end: create a contact over HTTP, read it, log an activity."""


def test_contact_round_trip_over_http(client):
    created = client.post("/api/contacts", json={"email": "Ann@Example.com", "first_name": "Ann",
                                                  "last_name": "Lee"})
    assert created.status_code == 201, created.text
    contact_id = created.json()["id"]
    fetched = client.get(f"/api/contacts/{contact_id}")
    assert fetched.status_code == 200
    assert fetched.json()["email"] == "Ann@example.com"
    assert fetched.headers["etag"]
    logged = client.post(f"/api/contacts/{contact_id}/activities", json={"type": "email_opened"})
    assert logged.status_code == 201, logged.text
    unknown = client.post(f"/api/contacts/{contact_id}/activities", json={"type": "telepathy"})
    assert unknown.status_code == 422
    assert "email_opened" in unknown.json()["known_types"]


def test_api_requires_a_token(app):
    from litestar.testing import TestClient

    with TestClient(app) as anonymous:
        assert anonymous.get("/api/contacts/1").status_code == 401
        assert anonymous.get("/health").status_code == 200
