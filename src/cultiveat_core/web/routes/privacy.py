"""Consent, subject access, erasure and retention over HTTP."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, get, post
from msgspec import Meta

from cultiveat_core.crm import CRM
from cultiveat_core.domain import Actor
from cultiveat_core.privacy.erasure import erase_contact
from cultiveat_core.privacy.retention import retention_report
from cultiveat_core.privacy.subject_access import subject_access
from cultiveat_core.web.routes.bodies import Body, documented
from cultiveat_core.web.routes.users import ObjectId


class ConsentBody(Body):
    """A grant or a withdrawal of consent for one purpose."""

    purpose: Annotated[
        str,
        documented(
            "a consent purpose: email_marketing, sms, tracking or one a plugin added",
            format="consent-purpose",
        ),
    ]
    granted: bool
    source: Annotated[str, Meta(min_length=1, max_length=200, description="where it came from, e.g. form")]


class EraseBody(Body):
    """Erasure cannot be undone: ``confirm`` must be true."""

    confirm: Annotated[bool, documented("must be true", enum=[True])]
    reason: Annotated[
        str, documented("why (other values are stored as other)", enum=["request", "retention", "other"])
    ] = "request"


class PrivacyController(Controller):
    path = "/api/contacts"
    tags = ["privacy"]

    @get("/{contact_id:int}/consent", sync_to_thread=True)
    def get_consent(self, crm: CRM, actor: Actor, contact_id: ObjectId) -> dict[str, Any]:
        """The effective consent per purpose and the full history (source and time)."""
        history = crm.consent.history(actor, contact_id)
        return {"current": crm.consent.current(actor, contact_id), "history": history}

    @post("/{contact_id:int}/consent", sync_to_thread=True, status_code=201)
    def record_consent(
        self, crm: CRM, actor: Actor, contact_id: ObjectId, data: ConsentBody
    ) -> dict[str, Any]:
        """Record a grant or withdrawal for ``purpose`` (email_marketing, sms, tracking)."""
        crm.permissions.require(actor, "consent.manage")
        crm.consent.record(actor, contact_id, data.purpose, data.granted, source=data.source)
        return {"current": crm.consent.current(actor, contact_id)}

    @get("/{contact_id:int}/subject-access", sync_to_thread=True)
    def get_subject_access(self, crm: CRM, actor: Actor, contact_id: ObjectId) -> dict[str, Any]:
        """Everything held about the contact, core and every plugin (``privacy.manage``)."""
        return subject_access(crm, actor, contact_id)

    @post("/{contact_id:int}/erase", sync_to_thread=True, status_code=200)
    def erase(
        self, crm: CRM, actor: Actor, contact_id: ObjectId, data: EraseBody
    ) -> dict[str, Any]:
        """Erase the contact everywhere (``privacy.manage``); send ``{"confirm": true}``.
        A tombstone keeps a keyed hash of the email so a re-import starts without consent."""
        if data.confirm is not True:
            from cultiveat_core.errors import ValidationError

            raise ValidationError.field("confirm", 'erasure cannot be undone: send "confirm": true')
        reason = data.reason if data.reason in {"request", "retention", "other"} else "other"
        return erase_contact(crm, actor, contact_id, reason=reason)


@get("/api/privacy/retention", sync_to_thread=True, tags=["privacy"])
def get_retention_report(crm: CRM, actor: Actor) -> dict[str, Any]:
    """Dry run of the retention job: how many contacts are past the retention period."""
    return retention_report(crm, actor)


PRIVACY_ROUTES = [PrivacyController, get_retention_report]
