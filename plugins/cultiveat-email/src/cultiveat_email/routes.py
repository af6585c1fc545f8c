"""``/api/email/...`` (token required) and the signed webhooks under ``/email/webhooks/...``."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import anyio
from litestar import Request, Response, delete, get, post
from litestar.params import Parameter
from msgspec import Meta

from cultiveat_core import CRM, Actor, NotFound, ValidationError
from cultiveat_core.errors import CultiveatError
from cultiveat_core.web.routes.bodies import EMAIL_PATTERN, MAX_ID, UNSET, Body, Email, UnsetType
from cultiveat_email import admin, esp, inbound
from cultiveat_email.delivery import service


class WebhookRejected(CultiveatError):
    status = 401


class WebhooksDisabled(CultiveatError):
    status = 503


class TestMessage(Body):
    """Where to send a test message (``to`` is required: 422 without it)."""

    __openapi__: ClassVar[dict[str, Any]] = {"required": ["to"]}

    to: Email | UnsetType = UNSET


class Suppression(Body):
    """An address never to email again, and why."""

    address: Email
    reason: Annotated[str, Meta(max_length=200, description="e.g. asked by phone")] | None = None


@post("/api/email/test", sync_to_thread=True, tags=["email"], status_code=202)
def test_email(crm: CRM, actor: Actor, data: TestMessage) -> dict[str, Any]:
    """Queue a test message: ``{"to": "you@example.com"}`` -> ``{"job_id"}`` (/api/jobs/{id})."""
    if not isinstance(data.to, str) or not data.to:
        raise ValidationError.field("to", "the address to send the test to is required")
    return {"job_id": admin.queue_test(crm, actor, data.to)}


# documented limits (the service clamps the page size; an unknown status matches nothing)
PageSize = Annotated[
    int,
    Parameter(description="1 to 200 (clamped)", schema_extra={"minimum": 1, "maximum": 200}),
]
IdFilter = Annotated[int | None, Parameter(schema_extra={"minimum": 1, "maximum": MAX_ID})]
STATUSES = ["pending", "sending", "sent", "deferred", "failed", "suppressed", "unknown"]


@get("/api/email/messages", sync_to_thread=True, tags=["email"])
def list_messages(
    crm: CRM,
    actor: Actor,
    contact_id: IdFilter = None,
    status: Annotated[str | None, Parameter(schema_extra={"enum": STATUSES})] = None,
    limit: PageSize = 50,
    before_id: IdFilter = None,
) -> list[dict[str, Any]]:
    """The outbox, newest first (status: pending, sending, sent, deferred, failed, suppressed,
    unknown)."""
    return admin.list_messages(crm, actor, contact_id=contact_id, status=status, limit=limit, before_id=before_id)


@get("/api/email/suppressions", sync_to_thread=True, tags=["email"])
def list_suppressions(crm: CRM, actor: Actor, limit: PageSize = 100) -> list[dict[str, Any]]:
    return admin.list_suppressions(crm, actor, limit)


@post("/api/email/suppressions", sync_to_thread=True, tags=["email"], status_code=201)
def add_suppression(crm: CRM, actor: Actor, data: Suppression) -> dict[str, Any]:
    """Never email this address again: ``{"address": "x@example.com", "reason": "by phone"}``."""
    return admin.add_suppression(crm, actor, data.address, data.reason or "manual")


@delete("/api/email/suppressions/{address:str}", sync_to_thread=True, tags=["email"], status_code=204)
def remove_suppression(
    crm: CRM,
    actor: Actor,
    address: Annotated[
        str,
        Parameter(description="the suppressed address", schema_extra={"pattern": EMAIL_PATTERN}),
    ],
) -> None:
    admin.remove_suppression(crm, actor, address)


@get("/api/email/settings", sync_to_thread=True, tags=["email"])
def settings(crm: CRM, actor: Actor) -> dict[str, Any]:
    """SMTP host/port/TLS, sender, throttles; never the password or webhook secret."""
    return admin.describe(crm, actor)


async def _verified_body(crm: CRM, request: Request[Any, Any, Any], adapter: Any) -> bytes:
    svc = service(crm)
    secret = svc.settings.webhook_secret
    if not secret:
        raise WebhooksDisabled("email webhooks are disabled: set CULTIVEAT_EMAIL_WEBHOOK_SECRET")
    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    problem = adapter.verify(secret, headers, body, svc.settings.webhook_tolerance_seconds)
    if problem is not None:
        raise WebhookRejected(f"webhook signature rejected: {problem}")
    return body


@post("/email/webhooks/inbound", tags=["email"], status_code=200, include_in_schema=False)
async def inbound_webhook(crm: CRM, request: Request[Any, Any, Any]) -> dict[str, Any]:
    """A raw RFC 822 message (a reply or a DSN bounce), signed like the ESP webhook."""
    body = await _verified_body(crm, request, esp.GenericAdapter())
    result = await anyio.to_thread.run_sync(inbound.process, crm, body)
    return {"kind": result["kind"]}


@post("/email/webhooks/esp/{provider:str}", tags=["email"], status_code=200, include_in_schema=False)
async def esp_webhook(crm: CRM, request: Request[Any, Any, Any], provider: str) -> Response[dict[str, Any]]:
    """Delivery events from an email service provider, through its registered adapter."""
    adapters = {a.name: a for a in crm.registry.extra(crm, "register_esp_adapters")}  # noqa: S610
    adapter = adapters.get(provider)
    if adapter is None:
        raise NotFound(f"no ESP adapter named {provider!r}; known: {', '.join(sorted(adapters))}")
    body = await _verified_body(crm, request, adapter)
    events = adapter.parse(body)
    counts = await anyio.to_thread.run_sync(esp.apply_events, crm, events)
    return Response(counts, status_code=200)


ROUTES = [
    test_email,
    list_messages,
    list_suppressions,
    add_suppression,
    remove_suppression,
    settings,
    inbound_webhook,
    esp_webhook,
]
