"""How values look on the page: relative times, initials, avatar colours, badge classes."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from cultiveat_core.domain import Contact

# Seed 003: a consistent colour from a hash of the name, out of a fixed palette (the
# ``avatar-N`` classes in app.css, all 4.5:1 against white text); grey "?" without a name.
AVATAR_COLOURS = 8
STALE_AFTER = timedelta(days=30)

STAGE_CLASSES = {
    "hot lead": "stage-hot",
    "qualified": "stage-qualified",
    "nurturing": "stage-nurturing",
    "cold lead": "stage-cold",
    "customer": "stage-customer",
    "lost": "stage-lost",
}
STAGE_ICONS = {
    "stage-hot": "🔥",
    "stage-qualified": "✓",
    "stage-nurturing": "↗",
    "stage-cold": "❄",
    "stage-customer": "🏆",
    "stage-lost": "✕",
}
TYPE_CLASSES = {
    "investor": "type-investor",
    "prospect": "type-prospect",
    "partner": "type-partner",
    "customer": "type-customer",
}


def initials(first: str | None, last: str | None) -> str:
    letters = "".join(
        part.strip()[:1] for part in (first or "", last or "") if part and part.strip()
    )
    return letters.upper() or "?"


def avatar_class(first: str | None, last: str | None) -> str:
    name = f"{first or ''} {last or ''}".strip().lower()
    if not name:
        return "avatar-none"
    digest = hashlib.sha256(name.encode()).digest()
    return f"avatar-{digest[0] % AVATAR_COLOURS}"


def relative_time(value: datetime | None, now: datetime | None = None) -> str:
    """Seed 003: Today / Yesterday / N days ago / Jan 15 / Jan 15, 2023."""
    if value is None:
        return "Never"
    now = now or datetime.now(UTC)
    days = (now.date() - value.astimezone(UTC).date()).days
    if days <= 0:
        return "Today"
    if days == 1:
        return "Yesterday"
    if days < 7:
        return f"{days} days ago"
    if value.year == now.year:
        return f"{value:%b} {value.day}"
    return f"{value:%b} {value.day}, {value.year}"


def is_stale(contact: Contact, now: datetime | None = None) -> bool:
    """No activity for 30 days (a contact never contacted counts from its creation)."""
    now = now or datetime.now(UTC)
    last = contact.last_activity_at or contact.created_at
    return last is not None and now - last > STALE_AFTER


def position_at_company(contact: Contact) -> str:
    if contact.position and contact.company:
        return f"{contact.position} at {contact.company}"
    return contact.position or contact.company or "N/A"


def stage_class(stage: str | None) -> str:
    return STAGE_CLASSES.get((stage or "").lower(), "stage-other")


def stage_icon(stage: str | None) -> str:
    return STAGE_ICONS.get(stage_class(stage), "")


def type_class(kind: str | None) -> str:
    return TYPE_CLASSES.get((kind or "").lower(), "type-other")


def score_class(score: object) -> str:
    try:
        value = float(score)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "score-none"
    if value >= 90:
        return "score-hot"
    if value >= 70:
        return "score-high"
    if value >= 40:
        return "score-mid"
    return "score-low"


def month_start(now: datetime, months_back: int = 0) -> datetime:
    year, month = now.year, now.month - months_back
    while month <= 0:
        month += 12
        year -= 1
    return datetime(year, month, 1, tzinfo=UTC)
