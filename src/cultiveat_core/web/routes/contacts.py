"""Contacts and their activities over HTTP (``/api/contacts``)."""

from __future__ import annotations

import tempfile
from typing import Annotated, Any, cast

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.openapi.spec import Schema
from litestar.openapi.spec.enums import OpenAPIFormat, OpenAPIType
from litestar.params import Parameter
from litestar.response import Stream

from cultiveat_core.crm import CRM
from cultiveat_core.domain import Actor
from cultiveat_core.errors import PreconditionFailed
from cultiveat_core.services.activities import parse_timeline_cursor, timeline_cursor
from cultiveat_core.services.bulk import bulk_action
from cultiveat_core.services.kpis import contact_kpis
from cultiveat_core.services.listing import contact_json, list_page
from cultiveat_core.services.merge import find_duplicates, merge_contacts
from cultiveat_core.web.routes.bodies import PathId, present
from cultiveat_core.web.routes.schemas import (
    BulkAction,
    ContactChange,
    Merge,
    NewActivity,
    NewContact,
    NoteChange,
)

ACTIVITY_TYPE = cast(OpenAPIFormat, "activity-type")


def parse_if_match(value: str | None) -> int | None:
    """``If-Match: "<id>-<version>"`` to the expected version (``*`` means any)."""
    if value is None or value.strip() == "*":
        return None
    tag = value.strip().removeprefix("W/").strip('"')
    _, _, version = tag.rpartition("-")
    if not version.isdigit():
        raise PreconditionFailed(
            f"If-Match {value!r} is not an ETag this server issued; GET the contact first"
        )
    return int(version)


def query_params(request: Request[Any, Any, Any]) -> dict[str, list[str]]:
    """Every query parameter with all its values (filters may repeat)."""
    params = request.query_params
    return {key: list(params.getall(key)) for key in params}


class ContactController(Controller):
    path = "/api/contacts"
    tags = ["contacts"]

    @post("/", sync_to_thread=True)
    def create_contact(
        self, crm: CRM, actor: Actor, data: NewContact
    ) -> Response[dict[str, Any]]:
        """Create a contact (``email``, ``first_name``, ``last_name`` required)."""
        contact = crm.contacts.create(actor, present(data))
        return Response(
            crm.fields_policy.mask(actor, contact_json(contact)),
            status_code=201,
            headers={"ETag": contact.etag, "Location": f"/api/contacts/{contact.id}"},
        )

    @get("/", sync_to_thread=True)
    def list_contacts(
        self, crm: CRM, actor: Actor, request: Request[Any, Any, Any]
    ) -> dict[str, Any]:
        """Contacts, 50 per page: filters (stage, company, type, channel, owner, industry, tag,
        size_min/max, created_from/to, last_activity_from/to, stale, q, custom.<name>, plugin
        fields such as score_min), ``sort`` (any column, ``-`` descending) and ``cursor``."""
        page = list_page(crm, actor, query_params(request))
        return {"items": page.items, "next_cursor": page.next_cursor, "sort": page.sort}

    @get("/kpis", sync_to_thread=True)
    def kpis(self, crm: CRM, actor: Actor) -> dict[str, Any]:
        """Total contacts (all, this month, last month), hot leads, companies, plugin KPIs."""
        return contact_kpis(crm, actor)

    @get("/export", sync_to_thread=True)
    def export(self, crm: CRM, actor: Actor, request: Request[Any, Any, Any]) -> Stream:
        """The list's contacts as ``format=csv|xlsx`` (non-admins: at most 1,000 rows); an
        ``X-Export-Password`` header gives an AES-encrypted zip instead."""
        from cultiveat_core.exporting import export_contacts

        params = query_params(request)
        fmt = (params.pop("format", None) or ["csv"])[0]
        password = request.headers.get("x-export-password")
        spool = tempfile.SpooledTemporaryFile(max_size=8 << 20)  # noqa: SIM115 - closed by the stream
        result = export_contacts(crm, actor, params, spool, format=fmt, password=password or None)
        spool.seek(0)

        def chunks() -> Any:
            try:
                while chunk := spool.read(1 << 16):
                    yield chunk
            finally:
                spool.close()

        return Stream(
            chunks(),
            media_type=result.media_type,
            headers={
                "Content-Disposition": f'attachment; filename="{result.filename}"',
                "X-Export-Rows": str(result.rows),
                "X-Export-Truncated": "true" if result.truncated else "false",
            },
        )

    @post("/bulk", sync_to_thread=True, status_code=200)
    def bulk(self, crm: CRM, actor: Actor, data: BulkAction) -> dict[str, Any]:
        """``{"action", "ids" | "filter", "tags"|"value"|"fields"}`` in one transaction."""
        return bulk_action(crm, actor, present(data))

    @get("/{contact_id:int}", sync_to_thread=True)
    def get_contact(self, crm: CRM, actor: Actor, contact_id: PathId) -> Response[dict[str, Any]]:
        contact = crm.contacts.get(actor, contact_id)
        return Response(crm.fields_policy.mask(actor, contact_json(contact)), headers={"ETag": contact.etag})

    @patch("/{contact_id:int}", sync_to_thread=True)
    def update_contact(
        self,
        crm: CRM,
        actor: Actor,
        request: Request[Any, Any, Any],
        contact_id: PathId,
        data: ContactChange,
    ) -> Response[dict[str, Any]]:
        """Change fields; with ``If-Match`` a stale ETag gets 412 instead of overwriting."""
        expected = parse_if_match(request.headers.get("if-match"))
        contact = crm.contacts.update(actor, contact_id, present(data), expected_version=expected)
        return Response(crm.fields_policy.mask(actor, contact_json(contact)), headers={"ETag": contact.etag})

    @delete("/{contact_id:int}", sync_to_thread=True, status_code=204)
    def delete_contact(self, crm: CRM, actor: Actor, contact_id: PathId) -> None:
        crm.contacts.delete(actor, contact_id)

    @get("/{contact_id:int}/duplicates", sync_to_thread=True)
    def duplicates(self, crm: CRM, actor: Actor, contact_id: PathId) -> dict[str, Any]:
        """Contacts that look like this one (same phone, or same name at the same company)."""
        found = find_duplicates(crm, actor, contact_id)
        return {"items": [crm.fields_policy.mask(actor, contact_json(c)) for c in found]}

    @post("/{contact_id:int}/merge", sync_to_thread=True, status_code=200)
    def merge(
        self, crm: CRM, actor: Actor, contact_id: PathId, data: Merge
    ) -> Response[dict[str, Any]]:
        """``{"merge_id": N}``: fold contact N into this one (activities, tags, plugin data)."""
        kept = merge_contacts(crm, actor, contact_id, data.merge_id)
        return Response(crm.fields_policy.mask(actor, contact_json(kept)), headers={"ETag": kept.etag})

    @post("/{contact_id:int}/activities", sync_to_thread=True)
    def log_activity(
        self, crm: CRM, actor: Actor, contact_id: PathId, data: NewActivity
    ) -> Response[dict[str, Any]]:
        """Log ``{"type", "occurred_at"?, "data"?}``; unknown types get 422 with the known ones."""
        body = present(data)
        activity = crm.activities.log(
            actor,
            contact_id,
            body["type"],
            occurred_at=body.get("occurred_at"),
            data=body.get("data"),
        )
        return Response(activity.as_dict(), status_code=201)

    @get("/{contact_id:int}/activities", sync_to_thread=True)
    def timeline(
        self,
        crm: CRM,
        actor: Actor,
        contact_id: PathId,
        type: Annotated[
            list[str] | None,
            Parameter(
                description="only these activity types",
                schema_extra={"items": Schema(type=OpenAPIType.STRING, format=ACTIVITY_TYPE)},
            ),
        ] = None,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 25,
        cursor: Annotated[
            str | None, Parameter(description="next_cursor of the previous page")
        ] = None,
    ) -> dict[str, Any]:
        """The contact's activities, newest first, 25 per page; ``cursor`` for the next page."""
        before = parse_timeline_cursor(cursor) if cursor else None
        items = crm.activities.timeline(
            actor, contact_id, types=type or (), limit=limit, before=before
        )
        next_cursor = timeline_cursor(items[-1]) if len(items) == limit else None
        return {"items": [a.as_dict() for a in items], "next_cursor": next_cursor}

    @patch("/{contact_id:int}/activities/{activity_id:int}", sync_to_thread=True)
    def edit_note(
        self,
        crm: CRM,
        actor: Actor,
        contact_id: PathId,
        activity_id: PathId,
        data: NoteChange,
    ) -> dict[str, Any]:
        """Edit a note (``text``, ``note_type``, ``tags``); the previous version is kept."""
        _same_contact(crm, actor, contact_id, activity_id)
        return crm.activities.notes.edit(actor, activity_id, present(data)).as_dict()

    @delete("/{contact_id:int}/activities/{activity_id:int}", sync_to_thread=True, status_code=204)
    def delete_note(
        self, crm: CRM, actor: Actor, contact_id: PathId, activity_id: PathId
    ) -> None:
        _same_contact(crm, actor, contact_id, activity_id)
        crm.activities.notes.delete(actor, activity_id)

    @get("/{contact_id:int}/activities/{activity_id:int}/history", sync_to_thread=True)
    def note_history(
        self, crm: CRM, actor: Actor, contact_id: PathId, activity_id: PathId
    ) -> dict[str, Any]:
        """Earlier versions of a note with who edited it and when, newest first."""
        _same_contact(crm, actor, contact_id, activity_id)
        return {"items": crm.activities.notes.history(actor, activity_id)}


def _same_contact(crm: CRM, actor: Actor, contact_id: int, activity_id: int) -> None:
    import sqlalchemy as sa

    from cultiveat_core.db import tables
    from cultiveat_core.errors import NotFound

    crm.permissions.require(actor, "activities.read")
    a = tables.activities
    with crm.engine.connect() as conn:
        owner = conn.execute(sa.select(a.c.contact_id).where(a.c.id == activity_id)).scalar()
    if owner != contact_id:
        raise NotFound(f"contact {contact_id} has no activity {activity_id}")
