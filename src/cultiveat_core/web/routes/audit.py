"""The audit trail over HTTP: ``GET /api/audit`` with filters, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from litestar import get
from litestar.params import Parameter

from cultiveat_core.crm import CRM
from cultiveat_core.db import tables
from cultiveat_core.domain import Actor
from cultiveat_core.privacy.encryption import reveal_sensitive_values
from cultiveat_core.services.audit import verify_chain


def visible_to(actor: Actor) -> Any:
    """``audit.read``: everything; ``audit.read_own``: one's actions and one's contacts."""
    t, c = tables.audit_log, tables.contacts
    if actor.can("audit.read"):
        return sa.true()
    owned = sa.select(sa.cast(c.c.id, sa.String)).where(c.c.owner_id == actor.user_id)
    return sa.or_(
        t.c.actor_id == actor.user_id,
        sa.and_(t.c.object_type == "contact", t.c.object_id.in_(owned)),
    )


@get("/api/audit", sync_to_thread=True, tags=["audit"])
def list_audit(
    crm: CRM,
    actor: Actor,
    action: Annotated[
        str | None, Parameter(description="exact action or prefix ending in .")
    ] = None,
    object_type: str | None = None,
    object_id: str | None = None,
    actor_id: Annotated[
        int | None,
        Parameter(ge=0, le=2_147_483_647, schema_extra={"minimum": 0, "maximum": 2_147_483_647}),
    ] = None,
    request_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before: Annotated[
        int | None,
        Parameter(
            description="id of the last record of the previous page",
            ge=1,
            le=2**62,
            schema_extra={"minimum": 1, "maximum": 2**62},
        ),
    ] = None,
    limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """Audit records, newest first (admin: all; others: their own actions and contacts)."""
    if not actor.can("audit.read"):
        crm.permissions.require(actor, "audit.read_own")
    t = tables.audit_log
    query = sa.select(t).where(visible_to(actor)).order_by(t.c.id.desc()).limit(limit)
    if action:
        query = query.where(
            t.c.action.startswith(action, autoescape=True)
            if action.endswith(".")
            else t.c.action == action
        )
    for column, value in (
        (t.c.object_type, object_type),
        (t.c.object_id, object_id),
        (t.c.actor_id, actor_id),
        (t.c.request_id, request_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(t.c.occurred_at >= since)
    if until is not None:
        query = query.where(t.c.occurred_at < until)
    if before is not None:
        query = query.where(t.c.id < before)
    with crm.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    items = [
        {
            "id": r["id"],
            "occurred_at": r["occurred_at"].isoformat(),
            "actor_id": r["actor_id"],
            "actor": r["actor"],
            "action": r["action"],
            "object_type": r["object_type"],
            "object_id": r["object_id"],
            "changes": reveal_sensitive_values(crm, actor, r["changes"]),
            "request_id": r["request_id"],
            "redacted": r["redacted_at"] is not None,
        }
        for r in rows
    ]
    return {"items": items, "next_before": items[-1]["id"] if len(items) == limit else None}


@get("/api/audit/verify", sync_to_thread=True, tags=["audit"])
def verify_audit(crm: CRM, actor: Actor) -> dict[str, Any]:
    """Walk the hash chain (``audit.read``): ``ok`` false lists what was altered."""
    crm.permissions.require(actor, "audit.read")
    with crm.engine.connect() as conn:
        checked, problems = verify_chain(conn)
    return {"ok": not problems, "checked": checked, "problems": problems[:100]}


AUDIT_ROUTES = [list_audit, verify_audit]
