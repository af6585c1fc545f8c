"""Every ``/api`` route needs an actor; ``actor_from_request`` decides who it is."""

from __future__ import annotations

import logging
import re
import uuid
from typing import TYPE_CHECKING, Any

import anyio
import attrs
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import ASGIApp

from cultiveat_core.defaults.actor import actor_from_request as default_actor_from_request
from cultiveat_core.domain import Actor
from cultiveat_core.errors import PermissionDenied
from cultiveat_core.services.unit_of_work import transaction

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

log = logging.getLogger("cultiveat.web")

# Paths outside /api (health, schema, the web UI's pages, tracking links) decide for themselves;
# inside /api only the public "forgot password" request needs no actor.
PUBLIC_API_PATHS = ("/api/auth/password-reset",)
PUBLIC_PATHS = r"^/(?!api(/|$))|" + "|".join(f"^{re.escape(p)}$" for p in PUBLIC_API_PATHS)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def request_id_for(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The client's ``X-Request-ID`` when it is a plain token (it is audited), else a new one."""
    sent = connection.headers.get("x-request-id", "")
    return sent if _REQUEST_ID.match(sent) else uuid.uuid4().hex


def resolve_actor(crm: CRM, connection: ASGIConnection[Any, Any, Any, Any]) -> Actor | None:
    actor: Actor | None = crm.pm.hook.actor_from_request(crm=crm, request=connection)
    if actor is None:
        return None
    return attrs.evolve(actor, request_id=request_id_for(connection))


def cached_token_actor(crm: CRM, connection: ASGIConnection[Any, Any, Any, Any]) -> Actor | None:
    """The actor of a recently authenticated bearer token, from memory, when no plugin
    decides who a request is (only the default ``actor_from_request`` is registered)."""
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    impls = crm.pm.hook.actor_from_request.get_hookimpls()
    if len(impls) != 1 or impls[0].function is not default_actor_from_request:
        return None
    actor = crm.tokens.cached(token.strip())
    return None if actor is None else attrs.evolve(actor, request_id=request_id_for(connection))


class ActorMiddleware(AbstractAuthenticationMiddleware):
    def __init__(self, app: ASGIApp, crm: CRM) -> None:
        super().__init__(app, exclude=[PUBLIC_PATHS], scopes=None)
        self.crm = crm

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        # the token cache answers most API calls without a thread hop (which would queue
        # behind the handlers in the same worker-thread pool); the rest go to a thread
        actor = cached_token_actor(self.crm, connection)
        if actor is None:
            actor = await anyio.to_thread.run_sync(resolve_actor, self.crm, connection)
        if actor is None:
            raise NotAuthorizedException(
                "authentication required: send `Authorization: Bearer <token>` "
                "(create one with `cultiveat tokens create EMAIL`) or log in",
                headers={"WWW-Authenticate": 'Bearer realm="cultiveat"'},
            )
        return AuthenticationResult(user=actor, auth=None)


def audit_denial(crm: CRM, exc: BaseException, scope: Any) -> None:
    """Record a refused call (after its transaction rolled back, so nothing else is kept)."""
    if not isinstance(exc, PermissionDenied):
        return
    actor = scope.get("user")
    if not isinstance(actor, Actor):
        return
    try:
        with transaction(crm, actor) as work:
            work.audit(
                "permission.denied",
                "route",
                f"{scope.get('method', '')} {scope.get('path', '')}"[:100],
                {"permission": exc.extra.get("permission"), "message": exc.message},
            )
    except Exception:  # auditing a denial must never turn a 403 into a 500
        log.exception("could not audit a permission denial")


def denial_auditor(crm: CRM) -> Any:
    async def after_exception(exc: BaseException, scope: Any) -> None:
        if isinstance(exc, PermissionDenied):
            await anyio.to_thread.run_sync(audit_denial, crm, exc, scope)

    return after_exception
