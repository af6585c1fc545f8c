"""The web plugin's own contact tabs, registered like any plugin's: Activity and Notes.

Their ``order`` places them in seed 003's sequence; plugins providing the other tabs use the
orders in ``TAB_ORDER`` (documented in docs/plugins/web.md).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from cultiveat_core.db import tables
from cultiveat_core.defaults.activity_types import NOTE_MAX, NOTE_TYPES
from cultiveat_core.domain import ContactTab, QuickAction
from cultiveat_web.rendering import env
from cultiveat_web.viewer import CSRF_SCOPE_KEY

TAB_ORDER = {
    "campaign": 10,
    "communication": 20,
    "segments": 30,
    "activity": 40,
    "notes": 50,
    "enrichment": 60,
    "ai": 70,
    "buying_signals": 80,
}
ACTIVITY_FILTERS = {
    "all": None,
    "emails": "email",
    "calls": "call",
    "notes": "note",
    "status": "status",
}
PAGE = 25


def _activity_types(crm: Any, category: str | None) -> list[str]:
    if category is None:
        return []
    if category == "status":
        return [n for n in crm.registry.activity_types if "status" in n or "stage" in n] or [
            "__none__"
        ]
    return [n for n, t in crm.registry.activity_types.items() if t.category == category] or [
        "__none__"
    ]


def _cursor(value: str) -> tuple[datetime, int] | None:
    at, _, id_ = value.rpartition("_")
    try:
        return datetime.fromisoformat(at), int(id_)
    except ValueError:
        return None


def render_activity(crm: Any, actor: Any, contact: Any, request: Any) -> str:
    """Timeline, newest first, grouped by day, 25 per page, filtered by kind
    (``?activity=calls``). "Older activity" is a link to the next page (``before=``) that the
    script loads in place when it scrolls into view (infinite scroll)."""
    kind = request.query_params.get("activity", "all")
    kind = kind if kind in ACTIVITY_FILTERS else "all"
    before = _cursor(request.query_params.get("before", ""))
    found = crm.activities.timeline(
        actor,
        contact.id,
        types=_activity_types(crm, ACTIVITY_FILTERS[kind]),
        limit=PAGE + 1,
        before=before,
    )
    items, more = found[:PAGE], len(found) > PAGE
    users = _user_names(crm, {a.actor_id for a in items if a.actor_id})
    return env.get_template("contacts/tab_activity.html").render(
        contact=contact,
        items=items,
        days=by_day(items),
        more=more,
        continued=before is not None,
        kind=kind,
        filters=list(ACTIVITY_FILTERS),
        users=users,
        types=crm.registry.activity_types,
        page_size=PAGE,
    )


def by_day(items: list[Any]) -> list[tuple[date, list[Any]]]:
    """Consecutive items (newest first) grouped under their UTC day, for the date headers."""
    days: list[tuple[date, list[Any]]] = []
    for item in items:
        day = item.occurred_at.astimezone(UTC).date()
        if days and days[-1][0] == day:
            days[-1][1].append(item)
        else:
            days.append((day, [item]))
    return days


def render_notes(crm: Any, actor: Any, contact: Any, request: Any) -> str:
    notes = crm.activities.timeline(actor, contact.id, types=["note"], limit=50)
    search = request.query_params.get("note_q", "").strip().lower()
    if search:
        notes = [n for n in notes if search in str(n.data.get("text", "")).lower()]
    users = _user_names(crm, {n.actor_id for n in notes if n.actor_id})
    return env.get_template("contacts/tab_notes.html").render(
        contact=contact,
        notes=notes,
        users=users,
        note_types=NOTE_TYPES,
        note_max=NOTE_MAX,
        can_write=actor.can("activities.log"),
        search=search,
        csrf=request.scope.get(CSRF_SCOPE_KEY),
    )


def _user_names(crm: Any, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    u = tables.users
    with crm.engine.connect() as conn:
        return {
            r.id: (r.name or r.email)
            for r in conn.execute(sa.select(u.c.id, u.c.name, u.c.email).where(u.c.id.in_(ids)))
        }


def web_contributions() -> list[Any]:
    return [
        ContactTab(
            name="activity",
            label="Activity",
            icon="⚡",
            order=TAB_ORDER["activity"],
            permission="activities.read",
            render=render_activity,
        ),
        ContactTab(
            name="notes",
            label="Notes",
            icon="🗎",
            order=TAB_ORDER["notes"],
            permission="activities.read",
            render=render_notes,
        ),
        QuickAction(
            name="log_call",
            label="Call",
            icon="☎",
            href="/contacts/{contact_id}/call",
            permission="activities.log",
            order=20,
        ),
        QuickAction(
            name="add_note",
            label="Add notes",
            icon="✎",
            href="/contacts/{contact_id}?tab=notes#tabs",
            permission="activities.log",
            order=90,
        ),
    ]
