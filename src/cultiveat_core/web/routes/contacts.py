"""Contacts and their activities over HTTP (``/api/contacts``)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import Parameter

from cultiveat_core.crm import CRM
from cultiveat_core.domain import Actor
from cultiveat_core.errors import PreconditionFailed, ValidationError


def parse_if_match(value: str | None) -> int | None:
    """``If-Match: "<id>-<version>"`` to the expected version (``*`` means any)."""
    if value is None or value.strip() == "*":
        return None
    tag = value.strip().removeprefix("W/").strip('"')
    _, _, version = tag.rpartition("-")
    if not version.isdigit():
        raise PreconditionFailed(f"If-Match {value!r} is not an ETag this server issued; GET the contact first")
    return int(version)


def _body(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValidationError.field("body", "must be a JSON object")
    return data


class ContactController(Controller):
    path = "/api/contacts"
    tags = ["contacts"]

    @post("/", sync_to_thread=True)
    def create_contact(self, crm: CRM, actor: Actor, data: dict[str, Any]) -> Response[dict[str, Any]]:
        """Create a contact (``email``, ``first_name``, ``last_name`` required)."""
        contact = crm.contacts.create(actor, _body(data))
        return Response(contact.as_dict(), status_code=201, headers={"ETag": contact.etag,
                                                                    "Location": f"/api/contacts/{contact.id}"})

    @get("/", sync_to_thread=True)
    def list_contacts(
        self,
        crm: CRM,
        actor: Actor,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 50,
        after: Annotated[int | None, Parameter(description="id of the last contact of the previous page")] = None,
    ) -> dict[str, Any]:
        """Contacts, 50 per page by default, by id; pass ``after`` for the next page."""
        contacts = crm.contacts.list(actor, limit=limit, after_id=after)
        return {
            "items": [c.as_dict() for c in contacts],
            "next_after": contacts[-1].id if len(contacts) == limit else None,
        }

    @get("/{contact_id:int}", sync_to_thread=True)
    def get_contact(self, crm: CRM, actor: Actor, contact_id: int) -> Response[dict[str, Any]]:
        contact = crm.contacts.get(actor, contact_id)
        return Response(contact.as_dict(), headers={"ETag": contact.etag})

    @patch("/{contact_id:int}", sync_to_thread=True)
    def update_contact(
        self, crm: CRM, actor: Actor, request: Request[Any, Any, Any], contact_id: int, data: dict[str, Any]
    ) -> Response[dict[str, Any]]:
        """Change fields; with ``If-Match`` a stale ETag gets 412 instead of overwriting."""
        expected = parse_if_match(request.headers.get("if-match"))
        contact = crm.contacts.update(actor, contact_id, _body(data), expected_version=expected)
        return Response(contact.as_dict(), headers={"ETag": contact.etag})

    @delete("/{contact_id:int}", sync_to_thread=True, status_code=204)
    def delete_contact(self, crm: CRM, actor: Actor, contact_id: int) -> None:
        crm.contacts.delete(actor, contact_id)

    @post("/{contact_id:int}/activities", sync_to_thread=True)
    def log_activity(
        self, crm: CRM, actor: Actor, contact_id: int, data: dict[str, Any]
    ) -> Response[dict[str, Any]]:
        """Log ``{"type", "occurred_at"?, "data"?}``; an unknown type gets 422 listing the known ones."""
        body = _body(data)
        unknown = sorted(set(body) - {"type", "occurred_at", "data"})
        if unknown:
            raise ValidationError.field(unknown[0], "unknown field; send type, occurred_at and data")
        activity = crm.activities.log(actor, contact_id, body.get("type"),  # type: ignore[arg-type]
                                      occurred_at=body.get("occurred_at"), data=body.get("data"))
        return Response(activity.as_dict(), status_code=201)

    @get("/{contact_id:int}/activities", sync_to_thread=True)
    def timeline(
        self,
        crm: CRM,
        actor: Actor,
        contact_id: int,
        type: Annotated[list[str] | None, Parameter(description="only these activity types")] = None,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 25,
    ) -> dict[str, Any]:
        """The contact's activities, newest first, 25 per page."""
        items = crm.activities.timeline(actor, contact_id, types=type or (), limit=limit)
        return {"items": [a.as_dict() for a in items]}
