"""``/api/reminders/contacts/{contact_id}``: create (POST) and list (GET) a contact's reminders."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Response, get, post

from cultiveat_core import CRM, Actor
from cultiveat_core.web.routes.bodies import Body, PathId, documented, present
from cultiveat_example_reminders.service import reminders_service
from cultiveat_example_reminders.validation import NOTE_MAX


class NewReminder(Body):
    """When to remind and of what (unknown fields get 400; the service checks the values)."""

    due_at: Annotated[
        str, documented("an ISO 8601 time, e.g. 2030-01-15T09:00:00Z", format="date-time")
    ]
    note: Annotated[
        str, documented("what to remember", pattern=r"[^\s\x00\x1c-\x1f\x85]", maxLength=NOTE_MAX)
    ]


class RemindersController(Controller):
    path = "/api/reminders/contacts/{contact_id:int}"
    tags = ["reminders"]

    @post("/", sync_to_thread=True)
    def create_reminder(
        self, crm: CRM, actor: Actor, contact_id: PathId, data: NewReminder
    ) -> Response[dict[str, Any]]:
        """Create ``{"due_at": "2030-01-15T09:00:00Z", "note": "Call back"}``; needs
        ``reminders.manage``."""
        reminder = reminders_service(crm).create(actor, contact_id, present(data))
        return Response(reminder.as_dict(), status_code=201)

    @get("/", sync_to_thread=True)
    def list_reminders(self, crm: CRM, actor: Actor, contact_id: PathId) -> dict[str, Any]:
        """The contact's reminders, soonest first (sent ones have ``sent_at``)."""
        found = reminders_service(crm).for_contact(actor, contact_id)
        return {"items": [reminder.as_dict() for reminder in found]}
