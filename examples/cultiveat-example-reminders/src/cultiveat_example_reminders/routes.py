"""``/api/reminders/contacts/{contact_id}``: create (POST) and list (GET) a contact's reminders."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get, post

from cultiveat_core import CRM, Actor
from cultiveat_example_reminders.service import reminders_service


class RemindersController(Controller):
    path = "/api/reminders/contacts/{contact_id:int}"
    tags = ["reminders"]

    @post("/", sync_to_thread=True)
    def create_reminder(
        self, crm: CRM, actor: Actor, contact_id: int, data: Any
    ) -> Response[dict[str, Any]]:
        """Create ``{"due_at": "2030-01-15T09:00:00Z", "note": "Call back"}``; needs
        ``reminders.manage``."""
        reminder = reminders_service(crm).create(actor, contact_id, data)
        return Response(reminder.as_dict(), status_code=201)

    @get("/", sync_to_thread=True)
    def list_reminders(self, crm: CRM, actor: Actor, contact_id: int) -> dict[str, Any]:
        """The contact's reminders, soonest first (sent ones have ``sent_at``)."""
        found = reminders_service(crm).for_contact(actor, contact_id)
        return {"items": [reminder.as_dict() for reminder in found]}
