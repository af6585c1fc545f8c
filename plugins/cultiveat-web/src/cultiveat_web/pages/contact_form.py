"""``/contacts/new`` and ``/contacts/{id}/edit``: the seed's form with a live preview.

Validation is the contacts service's; its field errors are shown next to the fields they
name. "Preview" re-renders the form with the preview filled in, without saving, so the
preview works without JavaScript too (the script updates it as you type).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from litestar import Response

from cultiveat_core.db import tables
from cultiveat_core.domain import Contact
from cultiveat_core.domain.contacts import ADDRESS_PARTS, SOCIAL_NETWORKS
from cultiveat_core.errors import Conflict, PreconditionFailed, ValidationError
from cultiveat_web import contact_list
from cultiveat_web.routing import PageRequest, page_route, redirect

STAGES = ("Cold Lead", "Nurturing", "Qualified", "Hot Lead", "Customer", "Lost")
TYPES = ("Prospect", "Investor", "Partner", "Customer")
SUGGESTED_TAGS = (
    "Enterprise",
    "SMB",
    "CEO",
    "Decision Maker",
    "Newsletter",
    "Subscribed",
    "Schedule Demo",
)
TEXT_INPUTS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "company",
    "position",
    "industry",
    "stage",
    "type",
    "channel",
    "owner",
    "notes",
    "company_size",
)
NOTES_MAX = 2000


def form_values(req: PageRequest) -> dict[str, str]:
    values = {name: req.param(name).strip() for name in TEXT_INPUTS}
    values["notes"] = req.param("notes")
    values["tags"] = req.param("tags")
    for part in ADDRESS_PARTS:
        values[f"address_{part}"] = req.param(f"address_{part}").strip()
    for network in SOCIAL_NETWORKS:
        values[f"social_{network}"] = req.param(f"social_{network}").strip()
    return values


def contact_form_values(contact: Contact) -> dict[str, str]:
    values = {
        name: "" if getattr(contact, name, None) is None else str(getattr(contact, name))
        for name in TEXT_INPUTS
        if name != "owner"
    }
    values["owner"] = contact.owner or ""
    values["tags"] = ", ".join(contact.tags)
    for part in ADDRESS_PARTS:
        values[f"address_{part}"] = getattr(contact.address, part) or ""
    for network in SOCIAL_NETWORKS:
        values[f"social_{network}"] = getattr(contact.social, network) or ""
    return values


def service_data(values: dict[str, str], *, creating: bool) -> dict[str, Any]:
    """Form values as the contacts service names them; blank optional fields are cleared."""
    data: dict[str, Any] = {name: values[name] or None for name in TEXT_INPUTS}
    for required in ("first_name", "last_name", "email"):
        data[required] = values[required]
    data["company_size"] = values["company_size"] or None
    data["tags"] = [t.strip() for t in values["tags"].split(",") if t.strip()]
    data["address"] = {part: values[f"address_{part}"] or None for part in ADDRESS_PARTS}
    data["social"] = {n: values[f"social_{n}"] for n in SOCIAL_NETWORKS if values[f"social_{n}"]}
    if creating and not data["owner"]:
        data.pop("owner")
    return data


def field_errors(exc: ValidationError) -> dict[str, str]:
    """Service field names (``address.city``, ``data.x``) -> form input names (``address_city``)."""
    errors: dict[str, str] = {}
    for error in exc.errors:
        name = error.field.replace(".", "_")
        errors.setdefault(name, error.message)
    return errors


def owners(req: PageRequest) -> list[str]:
    """Active users' emails for the owner drop-down (read directly: no admin right needed)."""
    u = tables.users
    with req.crm.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(u.c.email).where(u.c.is_active.is_(True)).order_by(u.c.email).limit(500)
            ).scalars()
        )


def render_form(
    req: PageRequest,
    values: dict[str, str],
    *,
    contact: Contact | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response[Any]:
    return req.render(
        "contacts/form.html",
        status=status,
        title=f"Edit {contact.full_name}" if contact else "Add contact",
        contact=contact,
        values=values,
        errors=errors or {},
        **form_options(req),
    )


def form_options(req: PageRequest) -> dict[str, Any]:
    """What the contact form's drop-downs and suggestions offer (the form page and the
    detail page's edit dialog render the same form)."""
    options = contact_list.filter_options(req.crm)
    return {
        "stages": STAGES,
        "types": TYPES,
        "channels": options.get("channel", []),
        "suggested_tags": sorted({*SUGGESTED_TAGS, *options.get("tag", [])}),
        "companies": contact_list.companies_matching(req.crm, "", limit=200),
        "owners": owners(req),
        "address_parts": ADDRESS_PARTS,
        "networks": SOCIAL_NETWORKS,
        "notes_max": NOTES_MAX,
    }


@page_route("/contacts/new", methods=("GET", "POST"))
def new_contact(req: PageRequest) -> Response[Any]:
    req.crm.permissions.require(req.actor, "contacts.create")
    if req.request.method == "GET":
        return render_form(req, {**{k: "" for k in form_values(req)}, "stage": "Cold Lead"})
    values = form_values(req)
    if req.param("action") == "preview":
        return render_form(req, values)
    try:
        contact = req.crm.contacts.create(req.actor, service_data(values, creating=True))
    except ValidationError as exc:
        return render_form(req, values, errors=field_errors(exc), status=422)
    except Conflict as exc:
        return render_form(req, values, errors={"email": exc.message}, status=409)
    return redirect(f"/contacts/{contact.id}", f"{contact.full_name} added.")


@page_route("/contacts/{contact_id:int}/edit", methods=("GET", "POST"))
def edit_contact(req: PageRequest, contact_id: int) -> Response[Any]:
    contact = req.crm.contacts.get(req.actor, contact_id)
    req.crm.permissions.require_contact(req.actor, "update", contact.owner_id)
    if req.request.method == "GET":
        return render_form(req, contact_form_values(contact), contact=contact)
    values = form_values(req)
    if req.param("action") == "preview":
        return render_form(req, values, contact=contact)
    version = req.param("version")
    try:
        updated = req.crm.contacts.update(
            req.actor,
            contact_id,
            service_data(values, creating=False),
            expected_version=int(version) if version.isdigit() else None,
        )
    except ValidationError as exc:
        return render_form(req, values, contact=contact, errors=field_errors(exc), status=422)
    except Conflict as exc:
        return render_form(req, values, contact=contact, errors={"email": exc.message}, status=409)
    except PreconditionFailed as exc:
        return render_form(req, values, contact=contact, errors={"form": exc.message}, status=412)
    return redirect(f"/contacts/{updated.id}", f"{updated.full_name} saved.")


ROUTES = [new_contact, edit_contact]
