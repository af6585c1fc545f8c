"""``GET /health`` without a token: database, migrations, broker (when configured), plugins."""

from __future__ import annotations

from litestar.testing import TestClient

from cultiveat_core.web import create_app


def health(crm):
    with TestClient(create_app(crm, run_jobs=False)) as client:
        response = client.get("/health")
    return response.status_code, response.json()


def test_health_of_a_migrated_core(make_crm):
    status, body = health(make_crm())
    assert status == 200
    assert body == {"status": "ok", "database": "ok", "migrations": "current",
                    "broker": "embedded", "plugins_failed": 0, "failed_plugins": []}


def test_health_checks_the_configured_broker(make_crm, redis_url):
    status, body = health(make_crm(broker_url=redis_url))
    assert (status, body["status"], body["broker"]) == (200, "ok", "ok")

    status, body = health(make_crm(broker_url="redis://127.0.0.1:1/0"))
    assert status == 200  # still serving; jobs wait in core_jobs until the broker is back
    assert body["status"] == "degraded"
    assert body["broker"].startswith("unreachable: ")
