"""``/contacts/{id}``: header, plugin panels, quick actions, tabs; notes, calls and tags.

Tabs are every ``ContactTab`` the viewer may see, in ``order`` (seed 003's sequence); all
are rendered so switching is instant with the script, and ``?tab=`` picks the open one
without it. A tab whose renderer fails shows a notice; a missing plugin's tab is absent.
"""

from __future__ import annotations

from typing import Any

from litestar import Response
from markupsafe import Markup

from cultiveat_core.defaults.activity_types import (
    CALL_NOTES_MAX,
    CALL_PURPOSES,
    CALL_STATUSES,
    NOTE_MAX,
)
from cultiveat_core.domain import Contact
from cultiveat_core.errors import ValidationError
from cultiveat_web.pages.contact_form import contact_form_values, field_errors, form_options
from cultiveat_web.rendering import render_contribution
from cultiveat_web.routing import PageRequest, page_route, redirect

DEFAULT_TAB = "communication"


def can_edit(req: PageRequest, contact: Contact) -> bool:
    actor = req.actor
    if not actor.can("contacts.update"):
        return False
    return actor.can("contacts.update_any") or (
        contact.owner_id is not None and contact.owner_id == actor.user_id
    )


def tabs_for(req: PageRequest, contact: Contact) -> list[tuple[Any, Markup]]:
    tabs = [t for t in req.crm.registry.ui("contact_tab") if req.viewer.can(t.permission)]
    return [
        (
            t,
            render_contribution(
                t, crm=req.crm, actor=req.actor, contact=contact, request=req.request
            ),
        )
        for t in tabs
    ]


def panels_for(req: PageRequest, contact: Contact) -> list[Markup]:
    found = []
    for panel in req.crm.registry.ui("contact_panel"):
        if req.viewer.can(panel.permission):
            html = render_contribution(
                panel, crm=req.crm, actor=req.actor, contact=contact, request=req.request
            )
            if str(html).strip():
                found.append(html)
    return found


def quick_actions(req: PageRequest, contact: Contact) -> list[dict[str, Any]]:
    actions = []
    if can_edit(req, contact):
        actions.append(
            {
                "label": "Edit contact",
                "icon": "✎",
                "href": f"/contacts/{contact.id}/edit",
                "method": "get",
                "name": "edit",
            }
        )
    actions.append(
        {
            "label": "Email",
            "icon": "✉",
            "href": f"mailto:{contact.email}",
            "method": "get",
            "name": "mailto",
        }
    )
    for action in req.crm.registry.ui("quick_action"):
        if req.viewer.can(action.permission):
            actions.append(
                {
                    "label": action.label,
                    "icon": action.icon,
                    "method": action.method,
                    "href": action.href.replace("{contact_id}", str(contact.id)),
                    "name": action.name,
                }
            )
    return actions


def render_detail(
    req: PageRequest,
    contact: Contact,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    call_values: dict[str, str] | None = None,
    open_dialog: str = "",
    note_text: str = "",
    tab: str | None = None,
) -> Response[Any]:
    tabs = tabs_for(req, contact)
    names = [t.name for t, _ in tabs]
    active = (
        tab
        or req.param("tab")
        or (DEFAULT_TAB if DEFAULT_TAB in names else (names[0] if names else ""))
    )
    if active not in names and names:
        active = names[0]
    editable = can_edit(req, contact)
    edit: dict[str, Any] = {}
    if editable:  # the edit dialog: the edit page's form, filled in
        edit = {"edit_values": contact_form_values(contact), **form_options(req)}
    return req.render(
        "contacts/detail.html",
        status=status,
        title=contact.full_name,
        contact=contact,
        tabs=tabs,
        active_tab=active,
        panels=panels_for(req, contact),
        actions=quick_actions(req, contact),
        editable=editable,
        **edit,
        can_log=req.viewer.can("activities.log"),
        errors=errors or {},
        purposes=CALL_PURPOSES,
        statuses=CALL_STATUSES,
        call_notes_max=CALL_NOTES_MAX,
        note_max=NOTE_MAX,
        call=call_values or {},
        open_dialog=open_dialog,
        note_text=note_text,
    )


@page_route("/contacts/{contact_id:int}")
def contact_detail(req: PageRequest, contact_id: int) -> Response[Any]:
    return render_detail(req, req.crm.contacts.get(req.actor, contact_id))


@page_route("/contacts/{contact_id:int}/call", methods=("GET", "POST"))
def log_call(req: PageRequest, contact_id: int) -> Response[Any]:
    """The call log: a dialog on the detail page with the script, this page without it."""
    contact = req.crm.contacts.get(req.actor, contact_id)
    req.crm.permissions.require(req.actor, "activities.log")
    if req.request.method == "GET":
        return req.render(
            "contacts/call.html",
            title=f"Log a call with {contact.full_name}",
            contact=contact,
            purposes=CALL_PURPOSES,
            statuses=CALL_STATUSES,
            call={},
            errors={},
            call_notes_max=CALL_NOTES_MAX,
        )
    values = {
        k: req.param(k).strip()
        for k in ("purpose", "status", "direction", "duration_minutes", "notes")
    }
    data: dict[str, Any] = {k: v for k, v in values.items() if v}
    try:
        req.crm.activities.log(req.actor, contact_id, "call", data=data)
    except ValidationError as exc:
        return req.render(
            "contacts/call.html",
            status=422,
            title=f"Log a call with {contact.full_name}",
            contact=contact,
            purposes=CALL_PURPOSES,
            statuses=CALL_STATUSES,
            call=values,
            errors=field_errors(exc),
            call_notes_max=CALL_NOTES_MAX,
        )
    return redirect(f"/contacts/{contact_id}?tab=activity#tabs", "Call logged.")


@page_route("/contacts/{contact_id:int}/notes", methods=("POST",))
def add_note(req: PageRequest, contact_id: int) -> Response[Any]:
    contact = req.crm.contacts.get(req.actor, contact_id)
    text = req.param("text")
    try:
        req.crm.activities.log(
            req.actor,
            contact_id,
            "note",
            data={"text": text, "note_type": req.param("note_type") or "General"},
        )
    except ValidationError as exc:
        return render_detail(
            req, contact, status=422, errors=field_errors(exc), note_text=text, tab="notes"
        )
    return redirect(f"/contacts/{contact_id}?tab=notes#tabs", "Note added.")


@page_route("/contacts/{contact_id:int}/tags", methods=("POST",))
def change_tags(req: PageRequest, contact_id: int) -> Response[Any]:
    """Add (``add``) or remove (``remove``) one tag, through the contacts service."""
    contact = req.crm.contacts.get(req.actor, contact_id)
    add, remove = req.param("add").strip(), req.param("remove").strip()
    tags = (
        [t for t in contact.tags if t.lower() != remove.lower()] if remove else list(contact.tags)
    )
    if add and add.lower() not in {t.lower() for t in tags}:
        tags.append(add)
    try:
        req.crm.contacts.update(
            req.actor, contact_id, {"tags": tags}, expected_version=contact.version
        )
    except ValidationError as exc:
        return render_detail(req, contact, status=422, errors=field_errors(exc))
    return redirect(
        f"/contacts/{contact_id}", f"Tag “{add}” added." if add else f"Tag “{remove}” removed."
    )


ROUTES = [contact_detail, log_call, add_note, change_tags]
