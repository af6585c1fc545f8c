"""``/api/hello/...``: read a contact's greeting, wave at a contact."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Response, get, post

from cultiveat_core import CRM, Actor
from cultiveat_core.web.routes.bodies import Body, PathId, documented
from cultiveat_example_hello.activities import MESSAGE_MAX
from cultiveat_example_hello.greetings import greet, wave


class Wave(Body):
    """A wave, with an optional message (unknown fields get 400)."""

    message: Annotated[
        str, documented("e.g. Nice to meet you (trimmed)", maxLength=MESSAGE_MAX)
    ] = ""


@get("/api/hello/contacts/{contact_id:int}/greeting", sync_to_thread=True, tags=["hello"])
def greeting(crm: CRM, actor: Actor, contact_id: PathId) -> dict[str, Any]:
    """The greeting for a contact: ``{"contact_id": 1, "greeting": "Hello, Ann Lee!"}``."""
    return {"contact_id": contact_id, "greeting": greet(crm, actor, contact_id)}


@post("/api/hello/contacts/{contact_id:int}/waves", sync_to_thread=True, tags=["hello"])
def wave_at(
    crm: CRM, actor: Actor, contact_id: PathId, data: Wave
) -> Response[dict[str, Any]]:
    """Wave at a contact (``{"message": "..."}``, optional); logs a ``hello_waved`` activity."""
    activity = wave(crm, actor, contact_id, data.message)
    return Response(activity.as_dict(), status_code=201)


ROUTES = [greeting, wave_at]
