"""UI contributions: the Campaigns and Communication tabs, the Email quick action (the
send-email dialog of ``pages.py``) and the Campaigns nav item. Renderers return escaped HTML."""

from __future__ import annotations

from html import escape
from typing import Any

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
    before = request.query_params.get("before") if request is not None else None
    result = history.page(crm, actor, contact.id, before=before)
    parts = [
        "<h2 style='font-size:20px;font-weight:600'>Communication History</h2><ol class='timeline'>"
    ]
    for entry in result["entries"]:
        color = BADGE.get(entry["status"], "#6B7280")
        align = "left" if entry["direction"] == "inbound" else "right"
        parts.append(
            f"<li class='{escape(entry['direction'])}' style='text-align:{align}'>"
            f"<strong>{escape(str(entry['subject'] or entry['type']))}</strong> "
            f"<span class='badge' style='background:{color};color:#fff'>"
            f"{escape(entry['status'])}</span> "
            f"<time>{escape(entry['occurred_at'])}</time><p>{escape(entry['preview'])}</p></li>"
        )
    parts.append("</ol>")
    if result["next_before"]:
        parts.append(
            "<a class='more' data-infinite "
            f"href='/api/campaigns/contacts/{contact.id}/communications"
            f"?before={escape(result['next_before'])}'>Load more</a>"
        )
    return "".join(parts)


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
