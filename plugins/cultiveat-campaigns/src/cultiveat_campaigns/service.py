"""Campaigns: create, edit, send (through jobs), pause, resume, assign contacts, send one email.

Permissions: ``campaigns.manage`` (marketing) may do everything; ``campaigns.send`` (sales)
may create and send campaigns whose audience is contacts they own, and email their own
contacts one at a time; ``campaigns.read`` lists; every change is audited.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import sqlalchemy as sa

from cultiveat_campaigns import audience as audiences
from cultiveat_campaigns import library
from cultiveat_campaigns.channels import channel
from cultiveat_campaigns.state import state
from cultiveat_campaigns.tables import campaigns, recipients, templates
from cultiveat_core import (
    CRM,
    Actor,
    Conflict,
    FieldError,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from cultiveat_core.db import tables as core_tables
from cultiveat_core.db.metadata import utcnow
from cultiveat_core.errors import PreconditionFailed
from cultiveat_core.services.activities import parse_time

STATUSES = ("Draft", "Scheduled", "Active", "Paused", "Completed")
TYPES = (
    "Email Campaign",
    "Email Sequence",
    "Cold Outreach",
    "Event Follow-up",
    "Nurture",
    "Event Invitation",
)


def as_dict(row: Mapping[str, Any], counts: Mapping[str, int] | None = None) -> dict[str, Any]:
    def iso(v: Any) -> Any:
        return v.isoformat() if v is not None else None

    return {
        "id": row["id"],
        "name": row["name"],
        "type": row["type"],
        "channel": row["channel"],
        "template_id": row["template_id"],
        "audience": row["audience"],
        "status": row["status"],
        "schedule_at": iso(row["schedule_at"]),
        "start_date": iso(row["start_date"]),
        "end_date": iso(row["end_date"]),
        "capacity": row["capacity"],
        "cost": row["cost"],
        "note": row["note"],
        "created_by": row["created_by"],
        "created_at": iso(row["created_at"]),
        "started_at": iso(row["started_at"]),
        "completed_at": iso(row["completed_at"]),
        "recipients": dict(counts or {}),
    }


def _get(conn: sa.Connection, campaign_id: int) -> dict[str, Any]:
    row = conn.execute(sa.select(campaigns).where(campaigns.c.id == campaign_id)).mappings().first()
    if row is None:
        raise NotFound(f"campaign {campaign_id} does not exist")
    return dict(row)


def _counts(conn: sa.Connection, campaign_id: int) -> dict[str, int]:
    return {
        s: int(n)
        for s, n in conn.execute(
            sa.select(recipients.c.status, sa.func.count())
            .where(recipients.c.campaign_id == campaign_id)
            .group_by(recipients.c.status)
        ).all()
    }


def _date(data: Mapping[str, Any], key: str, errors: list[FieldError]) -> date | None:
    value = data.get(key)
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        errors.append(FieldError(key, "must be a date like 2024-01-15"))
        return None


def clean(crm: CRM, data: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    errors: list[FieldError] = []
    values: dict[str, Any] = {}
    if "name" in data or not partial:
        name = data.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            errors.append(FieldError("name", "a name of 1-200 characters is required"))
        else:
            values["name"] = name.strip()
    if "template_id" in data or not partial:
        if not isinstance(data.get("template_id"), int):
            errors.append(
                FieldError(
                    "template_id", "the id of a template is required (GET /api/campaigns/templates)"
                )
            )
        else:
            values["template_id"] = data["template_id"]
    if "type" in data:
        if data["type"] not in TYPES:
            errors.append(FieldError("type", "one of " + ", ".join(TYPES)))
        else:
            values["type"] = data["type"]
    if "channel" in data:
        values["channel"] = str(data["channel"])
    for key in ("capacity",):
        if data.get(key) is not None:
            if not isinstance(data[key], int) or data[key] < 1:
                errors.append(FieldError(key, "must be a positive whole number of contacts"))
            else:
                values[key] = data[key]
    if data.get("cost") is not None:
        if not isinstance(data["cost"], int | float) or data["cost"] < 0:
            errors.append(FieldError("cost", "must be a non-negative amount"))
        else:
            values["cost"] = float(data["cost"])
    if data.get("schedule_at"):
        try:
            values["schedule_at"] = parse_time(data["schedule_at"], "schedule_at")
        except ValidationError as exc:
            errors.extend(exc.errors)
    for key in ("start_date", "end_date"):
        if key in data:
            values[key] = _date(data, key, errors)
    if errors:
        raise ValidationError(errors)
    if "audience" in data or not partial:
        values["audience"] = audiences.validate(crm, data.get("audience"))
    if "channel" in values:
        channel(crm, values["channel"])
    return values


def _check_audience_rights(crm: CRM, actor: Actor, audience: Mapping[str, Any]) -> None:
    if actor.can("campaigns.manage"):
        return
    crm.permissions.require(actor, "campaigns.send")
    others = audiences.not_owned_by(crm, audience, actor.user_id)
    if others != 0:
        raise PermissionDenied(
            "you may send only to contacts you own; "
            + (
                "segment audiences need the marketing role"
                if others < 0
                else f"{others} contact(s) of this audience belong to other users"
            ),
            permission="campaigns.manage",
        )


def create(crm: CRM, actor: Actor, data: Mapping[str, Any]) -> dict[str, Any]:
    crm.permissions.require(actor, "campaigns.send")
    values = clean(crm, data, partial=False)
    _check_audience_rights(crm, actor, values["audience"])
    now = utcnow()
    with crm.transaction(actor) as uow:
        if (
            uow.conn.execute(
                sa.select(templates.c.id).where(templates.c.id == values["template_id"])
            ).first()
            is None
        ):
            raise ValidationError.field(
                "template_id", f"template {values['template_id']} does not exist"
            )
        if uow.conn.execute(
            sa.select(campaigns.c.id).where(campaigns.c.name == values["name"])
        ).first():
            raise Conflict(f"a campaign named {values['name']!r} exists; choose another name")
        values.setdefault("channel", "email")
        new_id = uow.conn.execute(
            campaigns.insert()
            .values(
                **values,
                status="Draft",
                created_by=actor.user_id,
                created_at=now,
                updated_at=now,
            )
            .returning(campaigns.c.id)
        ).scalar_one()
        uow.audit(
            "campaigns.create",
            "campaign",
            new_id,
            {"name": values["name"], "audience": values["audience"]},
        )
        return as_dict(_get(uow.conn, new_id))


def update(crm: CRM, actor: Actor, campaign_id: int, data: Mapping[str, Any]) -> dict[str, Any]:
    crm.permissions.require(actor, "campaigns.manage")
    values = clean(crm, data, partial=True)
    with crm.transaction(actor) as uow:
        before = _get(uow.conn, campaign_id)
        if before["status"] not in ("Draft", "Scheduled") and set(values) & {
            "audience",
            "template_id",
            "channel",
        }:
            raise Conflict(
                f"the campaign is {before['status']}: its audience, template and channel are fixed"
            )
        if "name" in values:
            clash = uow.conn.execute(
                sa.select(campaigns.c.id).where(
                    campaigns.c.name == values["name"], campaigns.c.id != campaign_id
                )
            ).scalar()
            if clash is not None:
                raise Conflict(f"a campaign named {values['name']!r} exists; choose another name")
        uow.conn.execute(
            campaigns.update()
            .where(campaigns.c.id == campaign_id)
            .values(**values, updated_at=utcnow())
        )
        uow.audit(
            "campaigns.update",
            "campaign",
            campaign_id,
            {k: [str(before[k]), str(v)] for k, v in values.items() if before[k] != v},
        )
        return as_dict(_get(uow.conn, campaign_id))


def get(crm: CRM, actor: Actor, campaign_id: int) -> dict[str, Any]:
    crm.permissions.require(actor, "campaigns.read")
    with crm.connect() as conn:
        return as_dict(_get(conn, campaign_id), _counts(conn, campaign_id))


def find_by_name(crm: CRM, name: str) -> dict[str, Any]:
    with crm.connect() as conn:
        row = conn.execute(sa.select(campaigns).where(campaigns.c.name == name)).mappings().first()
    if row is None:
        raise NotFound(f"no campaign named {name!r}")
    return dict(row)


def list_all(
    crm: CRM, actor: Actor, *, status: str | None = None, search: str | None = None
) -> list[dict[str, Any]]:
    crm.permissions.require(actor, "campaigns.read")
    query = sa.select(campaigns).order_by(campaigns.c.id.desc())
    if status:
        query = query.where(campaigns.c.status == status)
    if search:
        query = query.where(
            sa.func.lower(campaigns.c.name).contains(search.lower(), autoescape=True)
        )
    counts = sa.select(recipients.c.campaign_id, sa.func.count().label("n")).group_by(
        recipients.c.campaign_id
    )
    with crm.connect() as conn:
        sizes = dict(conn.execute(counts).all())
        return [
            as_dict(r, {"total": int(sizes.get(r["id"], 0))})
            for r in conn.execute(query).mappings()
        ]


def capacity_of(crm: CRM, row: Mapping[str, Any]) -> int | None:
    return row["capacity"] or state(crm).settings.default_capacity or None


def send(crm: CRM, actor: Actor, campaign_id: int) -> dict[str, Any]:
    """Start sending now (or at ``schedule_at``): the audience is resolved and sent by jobs."""
    crm.permissions.require(actor, "campaigns.send")
    with crm.connect() as conn:
        row = _get(conn, campaign_id)
    _check_audience_rights(crm, actor, row["audience"])
    if row["status"] in ("Active", "Completed"):
        raise Conflict(
            f"the campaign is already {row['status']}; create a new campaign to send again"
        )
    if row["status"] == "Paused":
        raise Conflict("the campaign is paused: resume it (POST /api/campaigns/{id}/resume)")
    channel(crm, row["channel"])
    size, cap = audiences.count(crm, row["audience"]), capacity_of(crm, row)
    if cap is not None and size is not None and size > cap:
        raise ValidationError.field(
            "audience",
            f"the audience has {size} contacts but the campaign's capacity "
            f"is {cap}; raise the capacity or narrow the audience",
        )
    now = state(crm).clock.now()
    scheduled = row["schedule_at"] is not None and row["schedule_at"] > now
    with crm.transaction(actor) as uow:
        if scheduled:
            uow.conn.execute(
                campaigns.update()
                .where(campaigns.c.id == campaign_id)
                .values(status="Scheduled", updated_at=utcnow())
            )
        else:
            _activate(crm, uow, campaign_id)
        uow.audit("campaigns.send", "campaign", campaign_id, {"scheduled": scheduled})
    return get(crm, actor, campaign_id)


def _activate(crm: CRM, uow: Any, campaign_id: int) -> None:
    uow.conn.execute(
        campaigns.update()
        .where(campaigns.c.id == campaign_id)
        .values(status="Active", started_at=utcnow(), updated_at=utcnow())
    )
    crm.jobs.enqueue("campaigns.prepare", {"campaign_id": campaign_id}, uow=uow)


def start_due(crm: CRM) -> int:
    """Scheduled campaigns whose time has come become Active (the scheduler's periodic job)."""
    now = state(crm).clock.now()
    with crm.connect() as conn:
        due = list(
            conn.execute(
                sa.select(campaigns.c.id).where(
                    campaigns.c.status == "Scheduled", campaigns.c.schedule_at <= now
                )
            ).scalars()
        )
    for campaign_id in due:
        with crm.transaction(Actor.system("campaigns scheduler")) as uow:
            _activate(crm, uow, campaign_id)
            uow.audit("campaigns.start", "campaign", campaign_id, {"scheduled": True})
    return len(due)


def set_paused(crm: CRM, actor: Actor, campaign_id: int, paused: bool) -> dict[str, Any]:
    crm.permissions.require(actor, "campaigns.manage")
    with crm.transaction(actor) as uow:
        row = _get(uow.conn, campaign_id)
        want, allowed = ("Paused", ("Active", "Scheduled")) if paused else ("Active", ("Paused",))
        if row["status"] not in allowed:
            raise Conflict(
                f"a {row['status']} campaign cannot be {'paused' if paused else 'resumed'}"
            )
        uow.conn.execute(
            campaigns.update()
            .where(campaigns.c.id == campaign_id)
            .values(status=want, updated_at=utcnow())
        )
        if not paused:
            job = "campaigns.prepare" if row["prepared_at"] is None else "campaigns.requeue"
            crm.jobs.enqueue(job, {"campaign_id": campaign_id}, uow=uow)
        uow.audit("campaigns.pause" if paused else "campaigns.resume", "campaign", campaign_id, {})
    return get(crm, actor, campaign_id)


def assign_contacts(
    crm: CRM, actor: Actor, campaign_id: int, contact_ids: list[int], method: str = "bulk"
) -> dict[str, Any]:
    """Seed 003's "Add to campaign": only Draft/Scheduled/Active campaigns with a contact list."""
    crm.permissions.require(actor, "campaigns.send")
    spec = audiences.validate(crm, {"contact_ids": contact_ids})
    _check_audience_rights(crm, actor, spec)
    with crm.transaction(actor) as uow:
        row = _get(uow.conn, campaign_id)
        if row["status"] not in ("Draft", "Scheduled", "Active"):
            raise Conflict(f"the campaign is {row['status']}: only active campaigns take contacts")
        if "contact_ids" not in row["audience"]:
            raise Conflict(
                "this campaign's audience is a segment or filter; add the contacts there"
            )
        current = set(row["audience"]["contact_ids"])
        added = [i for i in spec["contact_ids"] if i not in current]
        cap = capacity_of(crm, row)
        if cap is not None and len(current) + len(added) > cap:
            raise ValidationError.field(
                "contact_ids",
                f"the campaign would have {len(current) + len(added)} "
                f"contacts; its capacity is {cap}",
            )
        uow.conn.execute(
            campaigns.update()
            .where(campaigns.c.id == campaign_id)
            .values(audience={"contact_ids": sorted(current | set(added))}, updated_at=utcnow())
        )
        if added:
            crm.activities.log_many(
                actor,
                [
                    {
                        "contact_id": cid,
                        "type": "campaign_added",
                        "data": {
                            "campaign_id": campaign_id,
                            "campaign": row["name"],
                            "method": method,
                        },
                    }
                    for cid in added
                ],
                uow=uow,
            )
        if row["status"] == "Active" and added:
            crm.jobs.enqueue("campaigns.prepare", {"campaign_id": campaign_id}, uow=uow)
        uow.audit("campaigns.assign", "campaign", campaign_id, {"added": added})
    return {
        "campaign_id": campaign_id,
        "added": len(added),
        "already": len(spec["contact_ids"]) - len(added),
    }


def send_one(
    crm: CRM,
    actor: Actor,
    template_id: int,
    contact_id: int,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Email one contact with a template; needs a recent preview by this user (seed 003)."""
    crm.permissions.require(actor, "campaigns.send")
    contact = crm.contacts.get(actor, contact_id)
    if not actor.can("campaigns.manage") and contact.owner_id != actor.user_id:
        raise PermissionDenied("you may email only contacts you own", permission="campaigns.manage")
    minutes = state(crm).settings.preview_valid_minutes
    if not library.has_recent_preview(crm, actor, template_id, contact_id, minutes):
        raise PreconditionFailed(
            "preview the email for this contact first "
            f"(POST /api/campaigns/templates/{template_id}/preview "
            f'with {{"contact_id": {contact_id}}}); a preview is valid for {minutes} minutes'
        )
    clean_overrides = library.clean(dict(overrides or {}), partial=True) if overrides else {}
    with crm.transaction(actor) as uow:
        job_id = crm.jobs.enqueue(
            "campaigns.send_one",
            {
                "template_id": template_id,
                "contact_id": contact_id,
                "overrides": clean_overrides,
                "send_key": f"direct:{template_id}:{contact_id}:{utcnow().timestamp():.0f}",
            },
            uow=uow,
        )
        uow.audit("campaigns.send_one", "contact", contact_id, {"template_id": template_id})
    return {"job_id": job_id, "contact_id": contact_id, "template_id": template_id}


def contact_campaigns(crm: CRM, actor: Actor, contact_id: int) -> list[dict[str, Any]]:
    crm.permissions.require(actor, "campaigns.read")
    r = recipients
    with crm.connect() as conn:
        if (
            conn.execute(
                sa.select(core_tables.contacts.c.id).where(core_tables.contacts.c.id == contact_id)
            ).first()
            is None
        ):
            raise NotFound(f"contact {contact_id} does not exist")
        rows = (
            conn.execute(
                sa.select(
                    campaigns.c.id,
                    campaigns.c.name,
                    campaigns.c.type,
                    campaigns.c.status,
                    r.c.status.label("recipient_status"),
                    r.c.sent_at,
                    r.c.opened_at,
                    r.c.clicked_at,
                    r.c.bounced_at,
                    r.c.unsubscribed_at,
                )
                .join(r, r.c.campaign_id == campaigns.c.id)
                .where(r.c.contact_id == contact_id)
                .order_by(campaigns.c.id.desc())
            )
            .mappings()
            .all()
        )
    return [
        {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
        for row in rows
    ]
