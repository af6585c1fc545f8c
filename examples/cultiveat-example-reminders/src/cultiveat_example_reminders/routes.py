"""``/api/reminders/contacts/{contact_id}``: create (POST) and list (GET) a contact's reminders."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Response, get, post
from litestar.openapi.spec import Schema
from litestar.openapi.spec.enums import OpenAPIFormat, OpenAPIType
from litestar.params import Body

from cultiveat_core import CRM, Actor
from cultiveat_core.web.routes.bodies import PathId
from cultiveat_example_reminders.service import reminders_service
from cultiveat_example_reminders.validation import NOTE_MAX

# the body clean_reminder takes (it checks every field, unknown ones included, and lists each
# problem in one 422, a body that is not an object too)
REMINDER: dict[str, Any] = {
    "type": OpenAPIType.OBJECT,
    "properties": {
        "due_at": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.DATE_TIME),
        "note": Schema(
            type=OpenAPIType.STRING, max_length=NOTE_MAX, pattern=r"[^\s\x00\x1c-\x1f\x85]"
        ),
    },
    "required": ["due_at", "note"],
    "additional_properties": False,
}


class RemindersController(Controller):
    path = "/api/reminders/contacts/{contact_id:int}"
    tags = ["reminders"]

    @post("/", sync_to_thread=True)
    def create_reminder(
        self,
        crm: CRM,
        actor: Actor,
        contact_id: PathId,
        data: Annotated[Any, Body(description="a reminder", schema_extra=REMINDER)],
    ) -> Response[dict[str, Any]]:
        """Create ``{"due_at": "2030-01-15T09:00:00Z", "note": "Call back"}``; needs
        ``reminders.manage``. ``clean_reminder`` checks every field, unknown ones included, and
        lists each problem in one 422 (a body that is not an object too)."""
        reminder = reminders_service(crm).create(actor, contact_id, data)
        return Response(reminder.as_dict(), status_code=201)

    @get("/", sync_to_thread=True)
    def list_reminders(self, crm: CRM, actor: Actor, contact_id: PathId) -> dict[str, Any]:
        """The contact's reminders, soonest first (sent ones have ``sent_at``)."""
        found = reminders_service(crm).for_contact(actor, contact_id)
        return {"items": [reminder.as_dict() for reminder in found]}
