"""Every ``/api`` route needs an actor; ``actor_from_request`` decides who it is."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import anyio
import attrs
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import ASGIApp

from cultiveat_core.domain import Actor

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

# Paths outside /api (health, schema, the web UI's pages, tracking links) decide for themselves.
PUBLIC_PATHS = r"^/(?!api(/|$))"


def resolve_actor(crm: CRM, connection: ASGIConnection[Any, Any, Any, Any]) -> Actor | None:
    actor = crm.pm.hook.actor_from_request(crm=crm, request=connection)
    if actor is None:
        return None
    request_id = connection.headers.get("x-request-id") or uuid.uuid4().hex
    return attrs.evolve(actor, request_id=request_id[:64])


class ActorMiddleware(AbstractAuthenticationMiddleware):
    def __init__(self, app: ASGIApp, crm: CRM) -> None:
        super().__init__(app, exclude=[PUBLIC_PATHS], scopes=None)
        self.crm = crm

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        actor = await anyio.to_thread.run_sync(resolve_actor, self.crm, connection)
        if actor is None:
            raise NotAuthorizedException(
                "authentication required: send `Authorization: Bearer <token>` "
                "(create one with `cultiveat tokens create EMAIL`)",
                headers={"WWW-Authenticate": 'Bearer realm="cultiveat"'},
            )
        return AuthenticationResult(user=actor, auth=None)
