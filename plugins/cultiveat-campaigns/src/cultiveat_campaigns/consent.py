"""Send-time exclusion: who may receive marketing on a channel, as one SQL expression.

With the core's consent service (``crm.consent``) the latest consent record decides. On a
core without it, the latest ``subscribed``/``unsubscribed`` activity decides (no record:
allowed), so an unsubscribe still takes effect at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from cultiveat_core import CRM, Actor
from cultiveat_core.db import tables as core_tables


def allowed_clause(crm: CRM, purpose: str, contact_id_column: Any) -> Any:
    consent = getattr(crm, "consent", None)
    if consent is not None:
        return consent.allowed_clause(purpose, contact_id_column)
    a = core_tables.activities.alias("consent_activity")
    latest = (
        sa.select(a.c.type)
        .where(a.c.contact_id == contact_id_column, a.c.type.in_(("subscribed", "unsubscribed")))
        .order_by(a.c.occurred_at.desc(), a.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return sa.or_(latest.is_(None), latest != "unsubscribed")


def withdraw(
    crm: CRM,
    actor: Actor,
    contact_ids: Iterable[int],
    purpose: str,
    *,
    source: str,
    data: dict[str, Any] | None = None,
) -> None:
    """Record the withdrawal and log ``unsubscribed`` in one transaction."""
    ids = sorted(set(contact_ids))
    if not ids:
        return
    consent = getattr(crm, "consent", None)
    with crm.transaction(actor) as uow:
        if consent is not None:
            for contact_id in ids:
                consent.record(actor, contact_id, purpose, False, source=source, uow=uow)
        crm.activities.log_many(
            actor,
            [
                {
                    "contact_id": cid,
                    "type": "unsubscribed",
                    "data": {"source": source, **(data or {})},
                }
                for cid in ids
            ],
            uow=uow,
        )
