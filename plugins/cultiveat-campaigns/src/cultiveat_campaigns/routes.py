"""``/api/campaigns/...``: templates, campaigns, sequences, analytics, contact views."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import sqlalchemy as sa
from litestar import Response, get, patch, post
from litestar.params import Parameter

from cultiveat_campaigns import analytics, history, library, sequences, service
from cultiveat_campaigns.channels import channels
from cultiveat_campaigns.schemas import (
    AudienceBody,
    CampaignChange,
    ContactIds,
    NewCampaign,
    NewSequence,
    NewTemplate,
    Preview,
    TemplateChange,
)
from cultiveat_campaigns.tables import recipients
from cultiveat_core import CRM, Actor
from cultiveat_core.web.routes.bodies import MAX_ID, PathId, present

# -- templates ---------------------------------------------------------------------------


@get("/api/campaigns/templates", sync_to_thread=True, tags=["campaigns"])
def list_templates(crm: CRM, actor: Actor) -> list[dict[str, Any]]:
    """Templates grouped by category (Onboarding, Sales, Marketing)."""
    return library.list_all(crm, actor)


@post("/api/campaigns/templates", sync_to_thread=True, tags=["campaigns"], status_code=201)
def create_template(crm: CRM, actor: Actor, data: NewTemplate) -> dict[str, Any]:
    """``{"name", "subject", "body_html", "body_text", "category"?, "fallbacks"?}``."""
    return library.create(crm, actor, present(data))


@get("/api/campaigns/templates/{template_id:int}", sync_to_thread=True, tags=["campaigns"])
def get_template(crm: CRM, actor: Actor, template_id: PathId) -> dict[str, Any]:
    return library.get(crm, actor, template_id)


@patch("/api/campaigns/templates/{template_id:int}", sync_to_thread=True, tags=["campaigns"])
def update_template(crm: CRM, actor: Actor, template_id: PathId, data: TemplateChange) -> dict[str, Any]:
    return library.update(crm, actor, template_id, present(data))


@post(
    "/api/campaigns/templates/{template_id:int}/preview",
    sync_to_thread=True,
    tags=["campaigns"],
    status_code=200,
)
def preview_template(crm: CRM, actor: Actor, template_id: PathId, data: Preview) -> dict[str, Any]:
    """``{"contact_id"}`` (optionally edited ``subject``/``body_html``/``body_text``) -> rendered
    ``subject``, ``html``, ``text`` and the merge fields that were empty."""
    return library.preview(crm, actor, template_id, data.contact_id, overrides=_overrides(data))


@post(
    "/api/campaigns/templates/{template_id:int}/empty-fields",
    sync_to_thread=True,
    tags=["campaigns"],
    status_code=200,
)
def empty_fields(crm: CRM, actor: Actor, template_id: PathId, data: AudienceBody) -> dict[str, Any]:
    """``{"audience": {...}}`` -> per merge field, how many recipients would get it empty."""
    return library.empty_report(crm, actor, template_id, present(data.audience))


@post(
    "/api/campaigns/templates/{template_id:int}/send",
    sync_to_thread=True,
    tags=["campaigns"],
    status_code=202,
)
def send_to_contact(crm: CRM, actor: Actor, template_id: PathId, data: Preview) -> dict[str, Any]:
    """Email one contact (after a preview):
    ``{"contact_id", "subject"?, "body_html"?, "body_text"?}``."""
    return service.send_one(crm, actor, template_id, data.contact_id, _overrides(data))


# -- campaigns ---------------------------------------------------------------------------


@get("/api/campaigns", sync_to_thread=True, tags=["campaigns"])
def list_campaigns(
    crm: CRM, actor: Actor, status: str | None = None, search: str | None = None
) -> list[dict[str, Any]]:
    return service.list_all(crm, actor, status=status, search=search)


@post("/api/campaigns", sync_to_thread=True, tags=["campaigns"], status_code=201)
def create_campaign(crm: CRM, actor: Actor, data: NewCampaign) -> dict[str, Any]:
    """``{"name", "template_id", "audience": {"contact_ids": [...]} | {"segment_id": n}
    | {"filter": {...}},
    "schedule_at"?, "capacity"?, "cost"?, "type"?, "channel"?}``."""
    return service.create(crm, actor, present(data))


@get("/api/campaigns/{campaign_id:int}", sync_to_thread=True, tags=["campaigns"])
def get_campaign(crm: CRM, actor: Actor, campaign_id: PathId) -> dict[str, Any]:
    return service.get(crm, actor, campaign_id)


@patch("/api/campaigns/{campaign_id:int}", sync_to_thread=True, tags=["campaigns"])
def update_campaign(crm: CRM, actor: Actor, campaign_id: PathId, data: CampaignChange) -> dict[str, Any]:
    return service.update(crm, actor, campaign_id, present(data))


@post(
    "/api/campaigns/{campaign_id:int}/send",
    sync_to_thread=True,
    tags=["campaigns"],
    status_code=202,
)
def send_campaign(crm: CRM, actor: Actor, campaign_id: PathId) -> dict[str, Any]:
    """Start sending (jobs do the work) or schedule it when ``schedule_at`` is in the future."""
    return service.send(crm, actor, campaign_id)


@post(
    "/api/campaigns/{campaign_id:int}/pause",
    sync_to_thread=True,
    tags=["campaigns"],
    status_code=200,
)
def pause_campaign(crm: CRM, actor: Actor, campaign_id: PathId) -> dict[str, Any]:
    return service.set_paused(crm, actor, campaign_id, True)


@post(
    "/api/campaigns/{campaign_id:int}/resume",
    sync_to_thread=True,
    tags=["campaigns"],
    status_code=200,
)
def resume_campaign(crm: CRM, actor: Actor, campaign_id: PathId) -> dict[str, Any]:
    return service.set_paused(crm, actor, campaign_id, False)


@post(
    "/api/campaigns/{campaign_id:int}/contacts",
    sync_to_thread=True,
    tags=["campaigns"],
    status_code=200,
)
def assign_contacts(crm: CRM, actor: Actor, campaign_id: PathId, data: ContactIds) -> dict[str, Any]:
    """Add contacts to a campaign (the list's bulk action): ``{"contact_ids": [...]}``."""
    method = "individual" if len(data.contact_ids) == 1 else "bulk"
    return service.assign_contacts(crm, actor, campaign_id, data.contact_ids, method)


@get("/api/campaigns/{campaign_id:int}/recipients", sync_to_thread=True, tags=["campaigns"])
def list_recipients(
    crm: CRM,
    actor: Actor,
    campaign_id: PathId,
    status: str | None = None,
    after_id: Annotated[int, Parameter(schema_extra={"minimum": 0, "maximum": MAX_ID})] = 0,
    limit: Annotated[
        int, Parameter(description="1 to 500 (clamped)", schema_extra={"minimum": 1, "maximum": 500})
    ] = 100,
) -> list[dict[str, Any]]:
    """Per recipient: send status and tracking status (Sent, Delivered, Opened, Clicked,
    Bounced, Unsubscribed)."""
    service.get(crm, actor, campaign_id)
    r = recipients
    query = (
        sa.select(r)
        .where(r.c.campaign_id == campaign_id, r.c.id > after_id)
        .order_by(r.c.id)
        .limit(max(1, min(limit, 500)))
    )
    if status:
        query = query.where(r.c.status == status)
    with crm.connect() as conn:
        rows = conn.execute(query).mappings().all()
    out = []
    for row in rows:
        tracking = "Sent" if row["sent_at"] else None
        for col, label in (
            ("delivered_at", "Delivered"),
            ("opened_at", "Opened"),
            ("clicked_at", "Clicked"),
            ("bounced_at", "Bounced"),
            ("unsubscribed_at", "Unsubscribed"),
        ):
            if row[col] is not None:
                tracking = label
        out.append(
            {
                **{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()},
                "tracking_status": tracking,
            }
        )
    return out


@get("/api/campaigns/{campaign_id:int}/analytics", sync_to_thread=True, tags=["campaigns"])
def campaign_analytics(crm: CRM, actor: Actor, campaign_id: PathId) -> dict[str, Any]:
    return analytics.campaign(crm, actor, campaign_id)


@get("/api/campaigns/{campaign_id:int}/analytics.csv", sync_to_thread=True, tags=["campaigns"])
def campaign_analytics_csv(crm: CRM, actor: Actor, campaign_id: PathId) -> Response[str]:
    body = analytics.export_csv(crm, actor, campaign_id)
    return Response(
        body,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="campaign-{campaign_id}-analytics.csv"'},
    )


@get("/api/campaigns/analytics/segments", sync_to_thread=True, tags=["campaigns"])
def segment_analytics(crm: CRM, actor: Actor) -> list[dict[str, Any]]:
    return analytics.per_segment(crm, actor)


@get("/api/campaigns/channels", sync_to_thread=True, tags=["campaigns"])
def list_channels(crm: CRM, actor: Actor) -> list[dict[str, Any]]:
    crm.permissions.require(actor, "campaigns.read")
    return [{"name": c.name, "label": c.label, "consent_purpose": c.consent_purpose} for c in channels(crm).values()]


# -- sequences ---------------------------------------------------------------------------


@post("/api/campaigns/sequences", sync_to_thread=True, tags=["campaigns"], status_code=201)
def create_sequence(crm: CRM, actor: Actor, data: NewSequence) -> dict[str, Any]:
    """``{"name", "steps": [{"template_id", "delay_hours", "condition"?}], "exit_on"?}``."""
    return sequences.create(crm, actor, present(data))


@get("/api/campaigns/sequences/{sequence_id:int}", sync_to_thread=True, tags=["campaigns"])
def get_sequence(crm: CRM, actor: Actor, sequence_id: PathId) -> dict[str, Any]:
    return sequences.get(crm, actor, sequence_id)


@post(
    "/api/campaigns/sequences/{sequence_id:int}/enrolments",
    sync_to_thread=True,
    tags=["campaigns"],
    status_code=200,
)
def enrol(crm: CRM, actor: Actor, sequence_id: PathId, data: ContactIds) -> dict[str, Any]:
    """Enrol contacts: ``{"contact_ids": [...]}``."""
    return sequences.enrol(crm, actor, sequence_id, data.contact_ids)


# -- contact views -----------------------------------------------------------------------


@get("/api/campaigns/contacts/{contact_id:int}/campaigns", sync_to_thread=True, tags=["campaigns"])
def contact_campaigns(crm: CRM, actor: Actor, contact_id: PathId) -> list[dict[str, Any]]:
    return service.contact_campaigns(crm, actor, contact_id)


@get(
    "/api/campaigns/contacts/{contact_id:int}/communications",
    sync_to_thread=True,
    tags=["campaigns"],
)
def communications(
    crm: CRM,
    actor: Actor,
    contact_id: PathId,
    before: str | None = None,
    type: Literal["all", "emails", "calls"] | None = None,
) -> dict[str, Any]:
    """Communication history, newest first, 25 per page; pass ``next_before`` for the next page."""
    return history.page(crm, actor, contact_id, before=before, kind=type)


ROUTES = [
    list_templates,
    create_template,
    get_template,
    update_template,
    preview_template,
    empty_fields,
    send_to_contact,
    list_campaigns,
    create_campaign,
    get_campaign,
    update_campaign,
    send_campaign,
    pause_campaign,
    resume_campaign,
    assign_contacts,
    list_recipients,
    campaign_analytics,
    campaign_analytics_csv,
    segment_analytics,
    list_channels,
    create_sequence,
    get_sequence,
    enrol,
    contact_campaigns,
    communications,
]


def _overrides(data: Preview) -> dict[str, Any]:
    """The edited subject/body parts a preview or a one-off send may carry."""
    sent = present(data)
    return {k: sent[k] for k in ("subject", "body_html", "body_text") if k in sent}
