"""``GET /health``: database, migrations, broker and plugin status, without authentication."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from litestar import Response, get

from cultiveat_core.crm import CRM


def broker_status(crm: CRM) -> str:
    if not crm.settings.broker_url:
        return "embedded"
    try:
        import importlib

        kombu: Any = importlib.import_module("kombu")  # untyped
        with kombu.Connection(crm.settings.broker_url, connect_timeout=2) as conn:
            # one attempt, no back-off sleep: a health check answers at once when the broker is down
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, interval_max=0, timeout=2)
        return "ok"
    except Exception as exc:
        return f"unreachable: {type(exc).__name__}"


@get("/health", sync_to_thread=True, exclude_from_auth=True, tags=["system"], security=[])
def health(crm: CRM) -> Response[dict[str, Any]]:
    """Is this instance able to serve? 200 when the database is reachable and migrated."""
    body: dict[str, Any] = {"status": "ok"}
    try:
        with crm.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        body["database"] = "ok"
    except Exception as exc:
        body["database"] = f"unreachable: {type(exc).__name__}"
        body["status"] = "unavailable"
    if body["status"] == "ok":
        problem = crm.migration_problem()
        body["migrations"] = "current" if problem is None else problem
        if problem is not None:
            body["status"] = "unavailable"
    body["broker"] = broker_status(crm)
    if body["broker"].startswith("unreachable"):
        body["status"] = "degraded" if body["status"] == "ok" else body["status"]
    failed = crm.failed_plugins
    body["plugins_failed"] = len(failed)
    body["failed_plugins"] = [{"name": r.name, "error": r.error} for r in failed]
    return Response(body, status_code=200 if body["status"] != "unavailable" else 503)
