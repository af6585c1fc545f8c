"""UI contributions: the Campaigns and Communication tabs, the Email quick action (the
send-email dialog of ``pages.py``) and the Campaigns nav item. Renderers return escaped HTML."""

from __future__ import annotations

from datetime import date
from html import escape
from typing import Any
from urllib.parse import quote

from cultiveat_campaigns import history, service
from cultiveat_core import BulkAction, ContactTab, NavItem, QuickAction

BADGE = {
    "opened": "#10B981",
    "replied": "#3B82F6",
    "sent": "#6B7280",
    "bounced": "#EF4444",
    "clicked": "#8B5CF6",
    "delivered": "#6B7280",
    "unsubscribed": "#F59E0B",
}


def render_campaigns_tab(*, crm: Any, actor: Any, contact: Any, request: Any = None) -> str:
    rows = service.contact_campaigns(crm, actor, contact.id)
    if not rows:
        return "<p class='empty'>Not in any campaign yet.</p>"
    items = "".join(
        f"<li><strong>{escape(r['name'])}</strong> <span>{escape(r['type'])}</span> "
        f"<span class='status'>{escape(r['status'])}</span> "
        f"<span class='recipient'>{escape(str(r['recipient_status']))}</span></li>"
        for r in rows
    )
    return f"<ul class='campaigns'>{items}</ul>"


def render_communication_tab(*, crm: Any, actor: Any, contact: Any, request: Any = None) -> str:
    """Messages grouped by day, 25 at a time. "Older messages" is a plain page link (the
    contact page with ``?tab=communication&comm_before=``), so it works without JavaScript;
    the web plugin's script loads it in place as the list scrolls (``data-more``: items of
    ``[data-more-items]`` appended, a continuing ``data-day`` group merged)."""
    before = request.query_params.get("comm_before") if request is not None else None
    result = history.page(crm, actor, contact.id, before=before or None)
    parts = ["<h2 style='font-size:20px;font-weight:600'>Communication History</h2>"]
    if before:
        parts.append(f"<p><a href='/contacts/{contact.id}?tab=communication#tabs'>Newest messages</a></p>")
    if not result["entries"]:
        parts.append("<p class='empty'>No messages yet.</p>")
        return "".join(parts)
    days: dict[str, list[dict[str, Any]]] = {}
    for entry in result["entries"]:
        days.setdefault(str(entry["occurred_at"])[:10], []).append(entry)
    parts.append("<div class='day-groups' data-more-items>")
    for day, entries in days.items():
        label = _day_label(day)
        parts.append(
            f"<section class='day-group' data-day='{escape(day)}' aria-label='{escape(label)}'>"
            f"<h3 class='day-head'><time datetime='{escape(day)}'>{escape(label)}</time></h3>"
            "<ol class='timeline'>"
        )
        for entry in entries:
            color = BADGE.get(entry["status"], "#6B7280")
            align = "left" if entry["direction"] == "inbound" else "right"
            parts.append(
                f"<li class='{escape(entry['direction'])}' style='text-align:{align}'>"
                f"<strong>{escape(str(entry['subject'] or entry['type']))}</strong> "
                f"<span class='badge' style='background:{color};color:#fff'>"
                f"{escape(entry['status'])}</span> "
                f"<time datetime='{escape(entry['occurred_at'])}'>{escape(entry['occurred_at'][11:16])}</time>"
                f"<p>{escape(entry['preview'])}</p></li>"
            )
        parts.append("</ol></section>")
    parts.append("</div>")
    if result["next_before"]:
        parts.append(
            "<p class='more-link'><a class='button' data-more "
            f"href='/contacts/{contact.id}?tab=communication&amp;comm_before="
            f"{quote(result['next_before'], safe='')}#tabs'>Older messages</a></p>"
        )
    return "".join(parts)


def _day_label(day: str) -> str:
    try:
        return date.fromisoformat(day).strftime("%a %d %b %Y")
    except ValueError:
        return day


UI = [
    NavItem(
        name="campaigns",
        label="Campaigns",
        href="/api/campaigns",
        icon="megaphone",
        order=30,
        permission="campaigns.read",
    ),
    ContactTab(
        name="campaigns",
        label="Campaigns & AI",
        render=render_campaigns_tab,
        order=10,
        permission="campaigns.read",
        icon="megaphone",
    ),
    ContactTab(
        name="communication",
        label="Communication",
        render=render_communication_tab,
        order=20,
        icon="envelope",
    ),
    # the contacts list's bulk actions: both open the dialog of pages.bulk_dialog
    BulkAction(
        name="send_email",
        label="Send Email",
        href="/campaigns/bulk",
        order=30,
        permission="campaigns.send",
    ),
    BulkAction(
        name="add_to_campaign",
        label="Add to Campaign",
        href="/campaigns/bulk",
        order=31,
        permission="campaigns.send",
    ),
    QuickAction(
        name="email",
        label="Email",
        href="/campaigns/contacts/{contact_id}/email",
        icon="envelope",
        order=20,
        permission="campaigns.send",
    ),
]
