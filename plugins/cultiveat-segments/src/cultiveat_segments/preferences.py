"""Per-contact preferences (seed 000 "Customer Preference Data Collection").

Interests, preferred channel, contact frequency and topics: set over the API (then they are
"explicit" and inference leaves them alone) or inferred from activities: the channel the
contact answers on most, how often they engage, what they bought, viewed or downloaded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from cultiveat_core import Actor, FieldError, ValidationError
from cultiveat_core.db import tables as core
from cultiveat_core.db.metadata import utcnow
from cultiveat_segments import membership, tables
from cultiveat_segments.permissions import PREFERENCES, READ

if TYPE_CHECKING:
    from cultiveat_core import CRM

p = tables.preferences
a = core.activities
FIELDS = ("interests", "preferred_channel", "frequency", "topics")
CHANNELS = ("email", "phone", "sms", "web", "social", "events", "chat", "mail")
FREQUENCIES = ("daily", "weekly", "monthly", "quarterly", "never")
LIST_MAX = 50
ITEM_MAX = 100
# which channel an activity shows the contact responds on
ACTIVITY_CHANNEL = {
    "email_opened": "email",
    "email_clicked": "email",
    "email_replied": "email",
    "call": "phone",
    "page_visit": "web",
    "form_submitted": "web",
    "content_downloaded": "web",
    "webinar_attended": "events",
    "meeting": "events",
}
INTEREST_TYPES = (
    "purchase",
    "page_visit",
    "content_downloaded",
    "demo_requested",
    "pricing_requested",
)
TOPIC_TYPES = ("email_clicked", "webinar_attended")
INFER_DAYS = 365
BATCH = 1000


def _empty(contact_id: int) -> dict[str, Any]:
    return {
        "contact_id": contact_id,
        "interests": [],
        "preferred_channel": None,
        "frequency": None,
        "topics": [],
        "sources": {},
        "updated_at": None,
    }


def read_preferences(crm: CRM, contact_id: int) -> dict[str, Any] | None:
    with crm.engine.connect() as conn:
        row = conn.execute(sa.select(p).where(p.c.contact_id == contact_id)).mappings().first()
    if row is None:
        return None
    data = dict(row)
    data["updated_at"] = row["updated_at"].isoformat()
    return data


def get_preferences(crm: CRM, actor: Actor, contact_id: int) -> dict[str, Any]:
    crm.permissions.require(actor, READ)
    crm.contacts.get(actor, contact_id)
    return read_preferences(crm, contact_id) or _empty(contact_id)


def _clean_list(value: Any, name: str, errors: list[FieldError]) -> list[str]:
    if value is None:
        return []
    if (
        not isinstance(value, list)
        or len(value) > LIST_MAX
        or not all(isinstance(v, str) for v in value)
    ):
        errors.append(FieldError(name, f"must be a list of at most {LIST_MAX} texts"))
        return []
    cleaned = []
    for item in value:
        text = " ".join(item.split()).lower()
        if not text or len(text) > ITEM_MAX:
            errors.append(FieldError(name, f"each item must be 1-{ITEM_MAX} characters"))
        elif text not in cleaned:
            cleaned.append(text)
    return cleaned


def _clean_choice(
    value: Any, name: str, choices: tuple[str, ...], errors: list[FieldError]
) -> str | None:
    if value in (None, ""):
        return None
    text = str(value).strip().lower()
    if text not in choices:
        errors.append(FieldError(name, f"{value!r} is not one of: {', '.join(choices)}"))
        return None
    return text


def clean(data: Mapping[str, Any]) -> dict[str, Any]:
    errors = [
        FieldError(k, f"unknown preference; use {', '.join(FIELDS)}")
        for k in sorted(set(data) - set(FIELDS))
    ]
    values: dict[str, Any] = {}
    for name in ("interests", "topics"):
        if name in data:
            values[name] = _clean_list(data[name], name, errors)
    if "preferred_channel" in data:
        values["preferred_channel"] = _clean_choice(
            data["preferred_channel"], "preferred_channel", CHANNELS, errors
        )
    if "frequency" in data:
        values["frequency"] = _clean_choice(data["frequency"], "frequency", FREQUENCIES, errors)
    if errors:
        raise ValidationError(errors)
    return values


def set_preferences(
    crm: CRM, actor: Actor, contact_id: int, data: Mapping[str, Any]
) -> dict[str, Any]:
    """Save what the person (or staff for them) said; those fields are no longer inferred."""
    crm.permissions.require(actor, PREFERENCES)
    crm.contacts.get(actor, contact_id)
    values = clean(data)
    with crm.transaction(actor) as uow:
        row = uow.conn.execute(sa.select(p).where(p.c.contact_id == contact_id)).mappings().first()
        old = dict(row) if row else _empty(contact_id)
        sources = {**(old["sources"] or {}), **{k: "explicit" for k in values}}
        new = {**{k: old[k] for k in FIELDS}, **values, "sources": sources, "updated_at": utcnow()}
        if row is None:
            uow.conn.execute(p.insert().values(contact_id=contact_id, **new))
        else:
            uow.conn.execute(p.update().where(p.c.contact_id == contact_id).values(**new))
        uow.audit(
            "segment.preferences",
            "contact",
            contact_id,
            {k: [old[k], values[k]] for k in values if old[k] != values[k]},
        )
    membership.reevaluate(crm, [contact_id], reason="event", actor=actor)
    return get_preferences(crm, actor, contact_id)


def _interest_of(kind: str, data: Mapping[str, Any]) -> list[str]:
    if kind == "purchase":
        return [
            str(line.get("product")).lower()
            for line in data.get("lines") or []
            if isinstance(line, Mapping) and line.get("product")
        ]
    if kind == "page_visit":
        path = str(data.get("url") or "").split("?")[0].strip("/").split("/")[0]
        return [path.lower()] if path else []
    if kind == "content_downloaded":
        return [str(data["content_type"]).lower()] if data.get("content_type") else []
    return ["demo" if kind == "demo_requested" else "pricing"]


def _topic_of(data: Mapping[str, Any]) -> list[str]:
    topic = data.get("topic") or data.get("subject")
    return [str(topic).lower()[:ITEM_MAX]] if topic else []


def _infer(rows: Iterable[tuple[str, Any]], now_count_90: int) -> dict[str, Any]:
    channels: Counter[str] = Counter()
    interests: Counter[str] = Counter()
    topics: Counter[str] = Counter()
    for kind, data in rows:
        data = data or {}
        if kind in ACTIVITY_CHANNEL:
            channels[ACTIVITY_CHANNEL[kind]] += 1
        if kind in INTEREST_TYPES:
            interests.update(_interest_of(kind, data))
        if kind in TOPIC_TYPES:
            topics.update(_topic_of(data))
    frequency = "weekly" if now_count_90 >= 12 else "monthly" if now_count_90 >= 3 else "quarterly"
    return {
        "preferred_channel": max(sorted(channels), key=channels.__getitem__) if channels else None,
        "interests": [k for k, _ in sorted(interests.items(), key=lambda kv: (-kv[1], kv[0]))[:5]],
        "topics": [k for k, _ in sorted(topics.items(), key=lambda kv: (-kv[1], kv[0]))[:5]],
        "frequency": frequency,
    }


def infer_preferences(crm: CRM) -> dict[str, Any]:
    """Stream the last year's activities by contact; upsert inferred preferences in batches."""
    now = utcnow()
    cutoff, recent = now - timedelta(days=INFER_DAYS), now - timedelta(days=90)
    kinds = sorted({*ACTIVITY_CHANNEL, *INTEREST_TYPES, *TOPIC_TYPES})
    query = (
        sa.select(a.c.contact_id, a.c.type, a.c.data, a.c.occurred_at)
        .where(a.c.type.in_(kinds), a.c.occurred_at >= cutoff)
        .order_by(a.c.contact_id)
    )
    updated = 0
    pending: dict[int, dict[str, Any]] = {}
    with crm.engine.connect() as conn:
        result = conn.execution_options(yield_per=5000).execute(query)
        current: int | None = None
        rows: list[tuple[str, Any]] = []
        recent_count = 0
        for contact_id, kind, data, occurred_at in result:
            if contact_id != current:
                if current is not None:
                    pending[current] = _infer(rows, recent_count)
                current, rows, recent_count = contact_id, [], 0
            rows.append((kind, data))
            recent_count += occurred_at >= recent
            if len(pending) >= BATCH:
                updated += _save_inferred(crm, pending)
                pending = {}
        if current is not None:
            pending[current] = _infer(rows, recent_count)
    updated += _save_inferred(crm, pending)
    return {"contacts": updated}


def _save_inferred(crm: CRM, inferred: Mapping[int, dict[str, Any]]) -> int:
    if not inferred:
        return 0
    now = utcnow()
    with crm.transaction(Actor.system("segments preferences")) as uow:
        existing = {
            r["contact_id"]: dict(r)
            for r in uow.conn.execute(
                sa.select(p).where(p.c.contact_id.in_(list(inferred)))
            ).mappings()
        }
        inserts, updates = [], []
        for contact_id, values in inferred.items():
            old = existing.get(contact_id) or _empty(contact_id)
            sources = dict(old["sources"] or {})
            row = {k: old[k] for k in FIELDS}
            for name, value in values.items():
                if sources.get(name) != "explicit":
                    row[name] = value
                    sources[name] = "inferred"
            record = {**row, "sources": sources, "updated_at": now}
            if contact_id in existing:
                updates.append({"cid": contact_id, **record})
            else:
                inserts.append({"contact_id": contact_id, **record})
        if inserts:
            uow.conn.execute(p.insert(), inserts)
        if updates:
            uow.conn.execute(p.update().where(p.c.contact_id == sa.bindparam("cid")), updates)
        uow.audit("segment.infer_preferences", "contact", None, {"contacts": len(inferred)})
    return len(inferred)
