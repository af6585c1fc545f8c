"""``/api/hello/...``: read a contact's greeting, wave at a contact."""

from __future__ import annotations

from typing import Any

from litestar import Response, get, post

from cultiveat_core import CRM, Actor, ValidationError
from cultiveat_example_hello.greetings import greet, wave


@get("/api/hello/contacts/{contact_id:int}/greeting", sync_to_thread=True, tags=["hello"])
def greeting(crm: CRM, actor: Actor, contact_id: int) -> dict[str, Any]:
    """The greeting for a contact: ``{"contact_id": 1, "greeting": "Hello, Ann Lee!"}``."""
    return {"contact_id": contact_id, "greeting": greet(crm, actor, contact_id)}


@post("/api/hello/contacts/{contact_id:int}/waves", sync_to_thread=True, tags=["hello"])
def wave_at(
    crm: CRM, actor: Actor, contact_id: int, data: dict[str, Any]
) -> Response[dict[str, Any]]:
    """Wave at a contact (``{"message": "..."}``, optional); logs a ``hello_waved`` activity."""
    message = data.get("message", "")
    if not isinstance(message, str):
        raise ValidationError.field("message", "must be text, e.g. \"Nice to meet you\"")
    activity = wave(crm, actor, contact_id, message)
    return Response(activity.as_dict(), status_code=201)


ROUTES = [greeting, wave_at]
