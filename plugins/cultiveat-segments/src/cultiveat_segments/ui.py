"""UI contributions: the Segments tab on the contact page and the segment builder page."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from cultiveat_core import ContactTab, NavItem
from cultiveat_segments.permissions import READ


def render_contact_tab(*, crm: Any, actor: Any, contact: Any, request: Any = None) -> Markup:
    """Seed 003 "Segments Tab": the contact's segments with qualification status."""
    from cultiveat_segments.plugin import service

    rows = service(crm).contact_segments(actor, contact.id)
    member = [r for r in rows if r["member"]]
    cards = []
    for r in rows:
        if not (r["member"] or r["qualifies"] or r["override"]):
            continue
        if r["override"] == "include":
            status = Markup('<span class="seg-manual" title="added by hand">manual</span>')
        elif r["member"] and r["qualifies"] is not False:
            status = Markup('<span class="seg-ok" title="meets all criteria">&#10003;</span>')
        elif r["member"]:
            status = Markup('<span class="seg-warn" title="no longer qualifies">&#9888;</span>')
        else:
            status = Markup('<span class="seg-qualifies">qualifies</span>')
        added = f"Contact added on {r['added_at'][:10]}" if r["added_at"] else "Not a member yet"
        cards.append(
            Markup(
                '<li class="segment-card" data-segment-id="{id}"><strong>{name}</strong> {status}'
                "<p>{description}</p><small>{added} &bull; {count} contacts</small></li>"
            ).format(
                id=r["segment_id"],
                name=r["name"],
                status=status,
                description=r["description"],
                added=added,
                count=r["member_count"],
            )
        )
    return Markup(
        '<section class="contact-segments"><h3>Contact Segments <span class="badge">{n}</span></h3>'
        '<a href="/segments/builder">New Segment</a><ul>{cards}</ul></section>'
    ).format(n=len(member), cards=Markup("").join(cards) or Markup("<li>No segments yet.</li>"))


UI = [
    NavItem(
        name="segments",
        label="Segments",
        href="/segments/builder",
        icon="segments",
        permission=READ,
        order=40,
    ),
    ContactTab(
        name="segments",
        label="Segments",
        render=render_contact_tab,
        icon="segments",
        permission=READ,
        order=50,
    ),
]
