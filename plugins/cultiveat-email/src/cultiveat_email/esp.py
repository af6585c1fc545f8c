"""ESP delivery webhooks: an adapter turns a provider's request into ``EspEvent`` values.

An adapter has a ``name`` (the URL segment), ``verify(secret, headers, body, tolerance)``
(None when authentic, else the reason) and ``parse(body) -> list[EspEvent]``. The built-in
``generic`` adapter takes Cultiveat's own signed JSON; a provider such as MailBlitz is one
small adapter registered through ``register_esp_adapters`` (see docs/plugins/email.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs
import sqlalchemy as sa

from cultiveat_core import CRM, ValidationError
from cultiveat_core.db import tables as core_tables
from cultiveat_core.services.activities import parse_time
from cultiveat_email import consent, signatures
from cultiveat_email.delivery import service
from cultiveat_email.tables import messages

EVENT_TYPES = ("delivered", "opened", "clicked", "bounced", "complained", "unsubscribed")
ACTIVITY_OF = {
    "delivered": "email_delivered",
    "opened": "email_opened",
    "clicked": "email_clicked",
    "bounced": "email_bounced",
}


@attrs.frozen
class EspEvent:
    type: str
    message_id: str | None = None
    email: str | None = None
    occurred_at: datetime | None = None
    url: str | None = None
    reason: str | None = None


class GenericAdapter:
    """``{"events": [{"type", "message_id" | "email", "timestamp"?, "url"?, "reason"?}]}``."""

    name = "generic"

    def verify(
        self, secret: str, headers: Mapping[str, str], body: bytes, tolerance: int
    ) -> str | None:
        return signatures.verify(secret, headers, body, tolerance)

    def parse(self, body: bytes) -> list[EspEvent]:
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            raise ValidationError.field("body", 'must be JSON: {"events": [...]}') from None
        items = data.get("events") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise ValidationError.field(
                "events", "must be a list of {type, message_id|email, timestamp}"
            )
        events = []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or item.get("type") not in EVENT_TYPES:
                raise ValidationError.field(
                    f"events[{i}].type", "must be one of " + ", ".join(EVENT_TYPES)
                )
            if not item.get("message_id") and not item.get("email"):
                raise ValidationError.field(f"events[{i}]", "needs message_id or email")
            when = (
                parse_time(item["timestamp"], f"events[{i}].timestamp")
                if item.get("timestamp")
                else None
            )
            events.append(
                EspEvent(
                    type=item["type"],
                    message_id=item.get("message_id"),
                    email=item.get("email"),
                    occurred_at=when,
                    url=item.get("url"),
                    reason=item.get("reason"),
                )
            )
        return events


def apply_events(crm: CRM, events: Sequence[EspEvent]) -> dict[str, int]:
    """Log activities, suppress bounced/complaining addresses, withdraw consent on unsubscribe."""
    svc = service(crm)
    ids = [e.message_id for e in events if e.message_id]
    addresses = [e.email.lower() for e in events if e.email]
    c = core_tables.contacts
    with crm.connect() as conn:
        sent = (
            {
                r["message_id"]: dict(r)
                for r in conn.execute(
                    sa.select(messages).where(messages.c.message_id.in_(ids))
                ).mappings()
            }
            if ids
            else {}
        )
        by_address = (
            dict(
                conn.execute(
                    sa.select(c.c.email_key, c.c.id).where(c.c.email_key.in_(addresses))
                ).all()
            )
            if addresses
            else {}
        )
    entries: list[dict[str, Any]] = []
    withdraw: dict[int, str] = {}
    to_suppress: dict[str, str] = {}
    counts = {"applied": 0, "unmatched": 0}
    for event in events:
        row = sent.get(event.message_id or "")
        address = (row["to_address"] if row else (event.email or "")).lower()
        contact_id = row["contact_id"] if row else by_address.get(address)
        if contact_id is None:
            counts["unmatched"] += 1
            continue
        counts["applied"] += 1
        data: dict[str, Any] = {
            **(row["meta"] if row else {}),
            "message_id": event.message_id,
            "source": "esp",
            "channel": "email",
        }
        if event.url:
            data["url"] = event.url
        if event.reason:
            data["reason"] = event.reason[:300]
        when = event.occurred_at.isoformat() if event.occurred_at else None
        if event.type in ACTIVITY_OF:
            entries.append(
                {
                    "contact_id": contact_id,
                    "type": ACTIVITY_OF[event.type],
                    "occurred_at": when,
                    "data": data,
                }
            )
        if event.type in ("bounced", "complained") and address:
            to_suppress[address] = "bounce" if event.type == "bounced" else "complaint"
        if event.type in ("complained", "unsubscribed"):
            withdraw[contact_id] = event.type
    for reason in ("bounce", "complaint"):
        found = [a for a, r in to_suppress.items() if r == reason]
        if found:
            svc.suppress(found, reason)
    if entries:
        crm.activities.log_many(svc.actor, entries)
    for kind in ("complained", "unsubscribed"):
        ids_ = [cid for cid, k in withdraw.items() if k == kind]
        consent.withdraw(crm, svc.actor, ids_, source=f"esp:{kind}")
    return counts
