"""Small random populations for the tests: contacts, tags, custom fields, activities, preferences."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from cultiveat_core import Actor

SYSTEM = Actor.system("tests")
POSITIONS = ["CEO", "cto", "Chief Marketing Officer", "Engineer", "VP Sales", "", None, "Founder"]
SIZES = [None, 5, 100, 101, 1000, 1001, 5000]
INDUSTRIES = ["Retail", "SaaS / Technology", "Healthcare", None]
STAGES = ["Cold Lead", "Hot Lead", "Customer", None]
CUSTOM_PLAN = ["pro", "free", "PRO", "5", None, "=1+1"]
CUSTOM_SEATS = [1, 10, 50.5, None, 0]
CUSTOM_TRIAL = [True, False, None]
TAGS = ["Alpha", "Beta", "Gamma"]
ACTIVITY_TYPES = ["email_clicked", "email_opened", "demo_requested", "page_visit", "purchase"]
CHANNELS = ["email", "phone", "web", None]
INTERESTS = ["analytics", "pricing", "crm"]


def now() -> datetime:
    return datetime.now(UTC)


def populate(crm: Any, seed: int, count: int = 40, when: datetime | None = None) -> list[int]:
    """Contacts with values drawn from small sets so that conditions hit and miss."""
    rng = random.Random(seed)
    when = when or now()
    fields = crm.contacts.custom_fields
    for name, kind in (("plan", "text"), ("seats", "number"), ("trial", "bool")):
        if name not in fields.all():
            fields.define(SYSTEM, name, name.title(), kind)
    rows = []
    for i in range(count):
        custom: dict[str, Any] = {}
        for key, choices in (
            ("plan", CUSTOM_PLAN),
            ("seats", CUSTOM_SEATS),
            ("trial", CUSTOM_TRIAL),
        ):
            value = rng.choice(choices)
            if value is not None:
                custom[key] = value
        rows.append(
            {
                "email": f"p{seed}-{i}@example.com",
                "first_name": f"F{i}",
                "last_name": f"L{i}",
                "position": rng.choice(POSITIONS),
                "company_size": rng.choice(SIZES),
                "industry": rng.choice(INDUSTRIES),
                "stage": rng.choice(STAGES),
                "custom": custom,
                "tags": rng.sample(TAGS, rng.randint(0, 2)),
            }
        )
    ids = [c.id for c in crm.contacts.create_many(SYSTEM, rows)]
    items = []
    for cid in ids:
        for _ in range(rng.choice([0, 0, 1, 2, 3, 5])):
            kind = rng.choice(ACTIVITY_TYPES)
            # half-day offsets keep every activity away from whole-day window boundaries
            at = when - timedelta(days=rng.randint(0, 59) + 0.5)
            data: dict[str, Any] = {}
            if kind == "purchase":
                data = {"amount": rng.choice([10, 50, 100, 250, 1000]), "currency": "USD"}
            elif kind == "page_visit":
                data = {"url": rng.choice(["/pricing", "/docs"])}
            items.append({"contact_id": cid, "type": kind, "occurred_at": at, "data": data})
    if items:
        crm.activities.log_many(SYSTEM, items)
    from cultiveat_segments.preferences import set_preferences

    for cid in ids[: count // 3]:
        channel = rng.choice(CHANNELS)
        set_preferences(
            crm,
            SYSTEM,
            cid,
            {"preferred_channel": channel, "interests": rng.sample(INTERESTS, rng.randint(0, 2))},
        )
    return ids
