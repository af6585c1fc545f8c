"""Withdrawing email-marketing consent through the core's ``crm.consent`` (when present).

Each withdrawal is also logged as an ``unsubscribed`` activity: that is the record a
campaign's send-time exclusion falls back to on a core without the consent service.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cultiveat_core import CRM, Actor

PURPOSE = "email_marketing"


def withdraw(
    crm: CRM,
    actor: Actor,
    contact_ids: Iterable[int],
    *,
    source: str,
    data: dict[str, Any] | None = None,
) -> int:
    ids = sorted(set(contact_ids))
    if not ids:
        return 0
    consent = getattr(crm, "consent", None)
    with crm.transaction(actor) as uow:
        if consent is not None:
            for contact_id in ids:
                consent.record(actor, contact_id, PURPOSE, False, source=source, uow=uow)
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
    return len(ids)
