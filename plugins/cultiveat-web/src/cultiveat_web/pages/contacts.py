"""``/contacts``: the list with search, filters, stale rows, row actions and bulk actions.

Bulk actions of the web plugin itself (tag, change stage, export) post here; the ones
plugins register (``BulkAction``: add to segment, add to campaign, send email) post the same
selection (``contact_ids``) to the plugin's ``href``.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from litestar import Response
from markupsafe import Markup

from cultiveat_core.errors import ValidationError
from cultiveat_core.services.bulk import bulk_action
from cultiveat_web import contact_list, formatting, kpis
from cultiveat_web.routing import PageRequest, page_route, redirect

MAX_TAGS_SHOWN = 2  # seed 003: more than two tags go behind the "i" button
EXPORT_LIMIT = 1000  # the core's rule for non-admins (contacts.export)
ADMIN_EXPORT_LIMIT = 100_000
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _query_string(params: Any, **changes: Any) -> str:
    pairs = [(k, v) for k, v in params.multi_items() if k not in changes]
    pairs += [(k, v) for k, v in changes.items() if v not in (None, "")]
    return urlencode(pairs)


def column_values(req: PageRequest, ids: list[int]) -> list[tuple[Any, dict[int, Markup]]]:
    """Plugin ``ListColumn`` cells for the page's contacts (one call per column)."""
    columns = []
    for column in req.crm.registry.ui("list_column"):
        if not req.viewer.can(column.permission):
            continue
        try:
            values = column.value(crm=req.crm, contact_ids=ids) or {}
        except Exception:
            values = {}
        # a ListColumn returns trusted HTML built from escaped values (its documented contract)
        columns.append((column, {k: Markup(v) for k, v in values.items()}))  # noqa: S704
    return columns


def bulk_actions(req: PageRequest) -> list[dict[str, str]]:
    actions = []
    if req.viewer.can("contacts.update"):
        actions += [
            {"name": "tag", "label": "Add tag", "href": "/contacts/bulk"},
            {"name": "stage", "label": "Change stage", "href": "/contacts/bulk"},
        ]
    for action in req.crm.registry.ui("bulk_action"):
        if req.viewer.can(action.permission):
            actions.append({"name": action.name, "label": action.label, "href": action.href})
    if req.viewer.can("contacts.export"):
        actions.append({"name": "export", "label": "Export CSV", "href": "/contacts/export"})
    return actions


def row_actions(req: PageRequest) -> list[Any]:
    return [a for a in req.crm.registry.ui("quick_action") if req.viewer.can(a.permission)]


@page_route("/contacts")
def contacts_list(req: PageRequest) -> Response[Any]:
    fields = contact_list.visible_fields(req.crm, req.actor)
    numeric = [f for f in fields if f.type == "number"]
    query, errors = contact_list.parse_query(req.request.query_params, [f.name for f in numeric])
    cards = kpis.contact_cards(req.crm, req.actor)
    all_contacts = next((card.value for card in cards if card.name == "contacts"), None)
    result = contact_list.run_query(
        req.crm,
        req.actor,
        query,
        all_contacts=all_contacts if isinstance(all_contacts, int) else None,
        count=False,  # a filtered page's count comes from /contacts/count (capped, deferred)
    )
    ids = [c.id for c in result.contacts]
    now = datetime.now(UTC)
    params = req.request.query_params
    paging = ("cursor", "before", "start")
    return req.render(
        "contacts/list.html",
        title="Contacts",
        query=query,
        errors=errors,
        result=result,
        fields=fields,
        numeric=numeric,
        options=contact_list.filter_options(req.crm),
        company_q=req.param("company_q"),
        company_matches=contact_list.companies_matching(req.crm, req.param("company_q")),
        columns=column_values(req, ids),
        stale={c.id for c in result.contacts if formatting.is_stale(c, now)},
        cards=cards,
        max_tags=MAX_TAGS_SHOWN,
        sees_sensitive=req.crm.fields_policy.can_see(req.actor),
        bulk=bulk_actions(req),
        row_actions=row_actions(req),
        next_link=(
            "?" + _query_string(params, before=None, cursor=result.next_cursor,
                                start=result.end + 1)
            if result.next_cursor
            else None
        ),
        previous_link=(
            "?" + _query_string(params, cursor=None, before=result.previous_cursor,
                                start=result.start)
            if result.previous_cursor
            else None
        ),
        first_link="?" + _query_string(params, **dict.fromkeys(paging)),
        filters_query=_query_string(params, **dict.fromkeys(paging)),
        count_url=(
            "/contacts/count?" + _query_string(params, **dict.fromkeys(paging))
            if not result.counted
            else None
        ),
    )


@page_route("/contacts/count")
def contacts_count(req: PageRequest) -> Response[Any]:
    """How many contacts match the list's filters, counted up to ``COUNT_CAP`` (JSON; the list
    page asks for it after rendering, so a filtered page never waits for a count)."""
    numeric = [
        f.name for f in contact_list.visible_fields(req.crm, req.actor) if f.type == "number"
    ]
    query, errors = contact_list.parse_query(req.request.query_params, numeric)
    if errors:
        raise ValidationError(errors)
    where = contact_list.where_clause(req.crm, req.actor, query, datetime.now(UTC))
    req.crm.permissions.require(req.actor, "contacts.read")
    with req.crm.engine.connect() as conn:
        total, capped = contact_list.count_capped(conn, where)
    return Response(
        {"count": total, "capped": capped, "label": contact_list.count_label(total, capped)},
        status_code=200,
    )


@page_route("/contacts/companies")
def company_suggestions(req: PageRequest) -> Response[Any]:
    """Companies matching ``q`` (JSON for the filter's search box)."""
    req.crm.permissions.require(req.actor, "contacts.read")
    return Response(
        {"companies": contact_list.companies_matching(req.crm, req.param("q"))}, status_code=200
    )


def _selected(req: PageRequest) -> list[int]:
    return [int(v) for v in req.params("contact_ids") if v.isdigit()]


@page_route("/contacts/bulk", methods=("POST",))
def bulk_update(req: PageRequest) -> Response[Any]:
    """Tag, or change the stage of, the selected contacts: the core's bulk service (one
    transaction, set-based, ownership checked for all of them)."""
    ids = _selected(req)
    back = "/contacts?" + req.param("back_query")
    if not ids:
        return redirect(back, "Select at least one contact first.")
    action = req.param("bulk")
    if action == "tag":
        tag = req.param("tag").strip()
        if not tag:
            return redirect(back, "Type the tag to add, then choose Add tag.")
        result = bulk_action(req.crm, req.actor, {"action": "add_tags", "ids": ids, "tags": [tag]})
        return redirect(back, f"Tag “{tag}” added to {result['count']} contact(s).")
    if action == "stage":
        stage = req.param("stage").strip()
        if not stage:
            return redirect(back, "Choose the new stage, then choose Change stage.")
        result = bulk_action(
            req.crm, req.actor, {"action": "set_stage", "ids": ids, "value": stage}
        )
        return redirect(back, f"Stage set to “{stage}” for {result['count']} contact(s).")
    return redirect(back, f"Unknown bulk action {action!r}.")


def safe_cell(value: Any) -> str:
    """CSV cells starting like a formula are prefixed with ' so spreadsheets show them as text."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


@page_route("/contacts/export", methods=("GET", "POST"))
def export_csv(req: PageRequest) -> Response[Any]:
    """The selected contacts, or every contact matching the filters, with the table's fields."""
    req.crm.permissions.require(req.actor, "contacts.export")
    ids = _selected(req)
    fields = contact_list.visible_fields(req.crm, req.actor)
    limit = ADMIN_EXPORT_LIMIT if req.actor.is_admin else EXPORT_LIMIT
    if ids:
        contacts, values = contact_list.export_rows(req.crm, req.actor, ids=ids[:limit])
    else:
        numeric = [f.name for f in fields if f.type == "number"]
        query, errors = contact_list.parse_query(req.request.query_params, numeric)
        if errors:
            raise ValidationError(errors)
        contacts, values = contact_list.export_rows(req.crm, req.actor, query=query, limit=limit)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    header = [
        "id",
        "first_name",
        "last_name",
        "email",
        "phone",
        "company",
        "position",
        "type",
        "channel",
        "stage",
        "tags",
        "last_activity_at",
        *[f.name for f in fields],
    ]
    writer.writerow(header)
    for c in contacts:
        writer.writerow(
            [
                safe_cell(v)
                for v in (
                    c.id,
                    c.first_name,
                    c.last_name,
                    c.email,
                    c.phone,
                    c.company,
                    c.position,
                    c.type,
                    c.channel,
                    c.stage,
                    "; ".join(c.tags),
                    c.last_activity_at.isoformat() if c.last_activity_at else "",
                    *[values.get(f.name, {}).get(c.id) for f in fields],
                )
            ]
        )
    with req.crm.transaction(req.actor) as uow:
        uow.audit("contact.export", "contact", None, {"count": len(contacts), "via": "web"})
    response: Response[Any] = Response(
        buffer.getvalue(), status_code=200, media_type="text/csv; charset=utf-8"
    )
    response.headers["Content-Disposition"] = 'attachment; filename="contacts.csv"'
    return response


ROUTES = [contacts_list, contacts_count, company_suggestions, bulk_update, export_csv]
