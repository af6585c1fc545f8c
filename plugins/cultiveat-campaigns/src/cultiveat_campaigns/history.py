"""A contact's communication history (seed 003): emails and calls, newest first, 25 a page."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cultiveat_core import CRM, Actor, ValidationError
from cultiveat_core.services.activities import parse_time

PAGE = 25
TYPES = (
    "email_sent",
    "email_delivered",
    "email_opened",
    "email_clicked",
    "email_bounced",
    "email_replied",
    "unsubscribed",
    "call",
    "meeting",
)
INBOUND = ("email_replied",)


def _cursor(value: str | None) -> tuple[datetime, int] | None:
    if not value:
        return None
    at, _, ident = value.rpartition("|")
    if not at or not ident.isdigit():
        raise ValidationError.field("before", "use the next_before value of the previous page")
    return parse_time(at, "before"), int(ident)


def page(
    crm: CRM, actor: Actor, contact_id: int, *, before: str | None = None, kind: str | None = None
) -> dict[str, Any]:
    types = TYPES
    if kind == "emails":
        types = tuple(t for t in TYPES if t.startswith("email_") or t == "unsubscribed")
    elif kind == "calls":
        types = ("call",)
    elif kind not in (None, "", "all"):
        raise ValidationError.field("type", "one of all, emails, calls")
    items = crm.activities.timeline(
        actor, contact_id, types=types, limit=PAGE, before=_cursor(before)
    )
    entries = []
    for act in items:
        data = dict(act.data)
        entries.append(
            {
                "id": act.id,
                "type": act.type,
                "occurred_at": act.occurred_at.isoformat(),
                "channel": "call" if act.type == "call" else "email",
                "direction": data.get("direction")
                or ("inbound" if act.type in INBOUND else "outbound"),
                "subject": data.get("subject") or data.get("purpose"),
                "status": act.type.removeprefix("email_"),
                "preview": str(data.get("snippet") or data.get("notes") or "")[:150],
                "data": data,
            }
        )
    last = items[-1] if len(items) == PAGE else None
    return {
        "entries": entries,
        "next_before": f"{last.occurred_at.isoformat()}|{last.id}" if last else None,
    }
