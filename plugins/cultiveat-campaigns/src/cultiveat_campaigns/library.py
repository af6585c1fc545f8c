"""Templates: create, edit, list, preview for a contact, report empty merge values."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from cultiveat_campaigns import audience as audiences
from cultiveat_campaigns import rendering
from cultiveat_campaigns.tables import previews, templates
from cultiveat_core import CRM, Actor, Conflict, FieldError, NotFound, ValidationError
from cultiveat_core.db import tables as core_tables
from cultiveat_core.db.metadata import utcnow

CATEGORIES = ("Onboarding", "Sales", "Marketing")
LIMITS = {"name": 200, "subject": 500, "body_html": 200_000, "body_text": 100_000}
c = core_tables.contacts
SAMPLE = {
    "first_name": "Sarah",
    "last_name": "Johnson",
    "company": "TechCorp Solutions",
    "position": "VP of Sales",
    "email": "sarah.johnson@techcorp.com",
}


def as_dict(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "category": row["category"],
        "subject": row["subject"],
        "body_html": row["body_html"],
        "body_text": row["body_text"],
        "fallbacks": row["fallbacks"] or {},
        "merge_fields": sorted(
            rendering.fields_used(row["subject"], row["body_html"], row["body_text"])
        ),
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }


def clean(data: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    errors: list[FieldError] = []
    values: dict[str, Any] = {}
    for key in ("name", "subject", "body_html", "body_text"):
        if key not in data:
            if not partial and key in ("name", "subject"):
                errors.append(FieldError(key, f"{key} is required"))
            continue
        value = data[key]
        if not isinstance(value, str):
            errors.append(FieldError(key, "must be text"))
            continue
        if key in ("name", "subject"):
            value = value.strip()
            if not value:
                errors.append(FieldError(key, f"{key} must not be empty"))
                continue
            if "\r" in value or "\n" in value:
                errors.append(FieldError(key, "must be one line (no line breaks)"))
                continue
        if len(value) > LIMITS[key]:
            errors.append(FieldError(key, f"at most {LIMITS[key]} characters"))
            continue
        values[key] = value
    if "category" in data:
        if data["category"] not in CATEGORIES:
            errors.append(FieldError("category", "one of " + ", ".join(CATEGORIES)))
        else:
            values["category"] = data["category"]
    if "fallbacks" in data:
        fb = data["fallbacks"]
        if not isinstance(fb, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in fb.items()
        ):
            errors.append(
                FieldError(
                    "fallbacks", 'must map merge fields to text, e.g. {"first_name": "there"}'
                )
            )
        elif set(fb) - set(rendering.MERGE_FIELDS):
            errors.append(
                FieldError("fallbacks", "keys may be: " + ", ".join(rendering.MERGE_FIELDS))
            )
        else:
            values["fallbacks"] = dict(fb)
    if not partial and not (values.get("body_html") or values.get("body_text")):
        errors.append(FieldError("body_html", "body_html or body_text is required"))
    if errors:
        raise ValidationError(errors)
    for key in ("subject", "body_html", "body_text"):
        if key in values:
            rendering.check_syntax(key, values[key])
    return values


def _trial(values: Mapping[str, Any]) -> None:
    """Render against a sample contact now, so a sandbox escape is refused at save time too."""
    rendering.render(
        {
            "subject": values["subject"],
            "body_html": values.get("body_html", ""),
            "body_text": values.get("body_text", ""),
            "fallbacks": values.get("fallbacks", {}),
        },
        SAMPLE,
        {"sender_email": "sender@example.com", "unsubscribe_url": "https://x.test/u"},
    )


def get_row(conn: sa.Connection, template_id: int) -> dict[str, Any]:
    row = conn.execute(sa.select(templates).where(templates.c.id == template_id)).mappings().first()
    if row is None:
        raise NotFound(f"template {template_id} does not exist")
    return dict(row)


def create(crm: CRM, actor: Actor, data: Mapping[str, Any]) -> dict[str, Any]:
    crm.permissions.require(actor, "campaigns.manage")
    values = clean(data, partial=False)
    _trial(values)
    now = utcnow()
    with crm.transaction(actor) as uow:
        if uow.conn.execute(
            sa.select(templates.c.id).where(templates.c.name == values["name"])
        ).first():
            raise Conflict(f"a template named {values['name']!r} exists; choose another name")
        new_id = uow.conn.execute(
            templates.insert()
            .values(
                category=values.get("category", "Marketing"),
                body_html=values.get("body_html", ""),
                body_text=values.get("body_text", ""),
                fallbacks=values.get("fallbacks", {}),
                created_by=actor.user_id,
                created_at=now,
                updated_at=now,
                name=values["name"],
                subject=values["subject"],
            )
            .returning(templates.c.id)
        ).scalar_one()
        uow.audit(
            "campaigns.template.create", "campaign_template", new_id, {"name": values["name"]}
        )
        return as_dict(get_row(uow.conn, new_id))


def update(crm: CRM, actor: Actor, template_id: int, data: Mapping[str, Any]) -> dict[str, Any]:
    crm.permissions.require(actor, "campaigns.manage")
    values = clean(data, partial=True)
    with crm.transaction(actor) as uow:
        before = get_row(uow.conn, template_id)
        merged = {**before, **values}
        _trial(merged)
        uow.conn.execute(
            templates.update()
            .where(templates.c.id == template_id)
            .values(**values, updated_at=utcnow())
        )
        uow.audit(
            "campaigns.template.update",
            "campaign_template",
            template_id,
            {k: [before[k], v] for k, v in values.items() if before[k] != v},
        )
        return as_dict(get_row(uow.conn, template_id))


def list_all(crm: CRM, actor: Actor) -> list[dict[str, Any]]:
    crm.permissions.require(actor, "campaigns.read")
    with crm.connect() as conn:
        rows = conn.execute(
            sa.select(templates).order_by(templates.c.category, templates.c.name)
        ).mappings()
        return [as_dict(r) for r in rows]


def get(crm: CRM, actor: Actor, template_id: int) -> dict[str, Any]:
    crm.permissions.require(actor, "campaigns.read")
    with crm.connect() as conn:
        return as_dict(get_row(conn, template_id))


def contact_values(conn: sa.Connection, contact_id: int) -> dict[str, Any]:
    row = conn.execute(sa.select(c).where(c.c.id == contact_id)).mappings().first()
    if row is None:
        raise NotFound(f"contact {contact_id} does not exist")
    return dict(row)


def preview(
    crm: CRM,
    actor: Actor,
    template_id: int,
    contact_id: int,
    *,
    overrides: Mapping[str, Any] | None = None,
    sender_email: str = "",
) -> dict[str, Any]:
    """Render for one contact (recorded: sending to an individual needs a recent preview)."""
    crm.permissions.require(actor, "campaigns.read")
    with crm.connect() as conn:
        template = get_row(conn, template_id)
        contact = contact_values(conn, contact_id)
    if overrides:
        template.update(clean(overrides, partial=True))
    rendered = rendering.render(
        template, contact, {"sender_email": sender_email, "unsubscribe_url": ""}
    )
    with crm.begin() as conn:
        preview_id = conn.execute(
            previews.insert()
            .values(
                template_id=template_id,
                contact_id=contact_id,
                actor_id=actor.user_id,
                created_at=utcnow(),
            )
            .returning(previews.c.id)
        ).scalar_one()
    return {
        "preview_id": preview_id,
        "template_id": template_id,
        "contact_id": contact_id,
        "to": contact["email"],
        "subject": rendered.subject,
        "html": rendered.html,
        "text": rendered.text,
        "empty_fields": list(rendered.empty_fields),
    }


def has_recent_preview(
    crm: CRM, actor: Actor, template_id: int, contact_id: int, minutes: int
) -> bool:
    with crm.connect() as conn:
        return (
            conn.execute(
                sa.select(previews.c.id)
                .where(
                    previews.c.template_id == template_id,
                    previews.c.contact_id == contact_id,
                    previews.c.actor_id.is_(None)
                    if actor.user_id is None
                    else previews.c.actor_id == actor.user_id,
                    previews.c.created_at >= utcnow() - timedelta(minutes=minutes),
                )
                .limit(1)
            ).first()
            is not None
        )


FIELD_COLUMNS = {
    "first_name": c.c.first_name,
    "last_name": c.c.last_name,
    "company_name": c.c.company,
    "position": c.c.position,
}


def empty_report(
    crm: CRM, actor: Actor, template_id: int, audience: Mapping[str, Any], sample_size: int = 20
) -> dict[str, Any]:
    """Per merge field the template uses: how many audience contacts have it empty, and some ids."""
    crm.permissions.require(actor, "campaigns.read")
    spec = audiences.validate(crm, audience)
    with crm.connect() as conn:
        template = get_row(conn, template_id)
    used = rendering.fields_used(template["subject"], template["body_html"], template["body_text"])
    columns = {f: col for f, col in FIELD_COLUMNS.items() if f in used}
    report: dict[str, Any] = {
        f: {"empty": 0, "contact_ids": [], "fallback": (template["fallbacks"] or {}).get(f)}
        for f in columns
    }
    total = 0
    for batch in audiences.id_batches(crm, spec, 5000):
        total += len(batch)
        with crm.connect() as conn:
            for field, col in columns.items():
                empty = sa.or_(col.is_(None), sa.func.trim(col) == "")
                found = (
                    conn.execute(
                        sa.select(sa.func.count()).select_from(c).where(c.c.id.in_(batch), empty)
                    ).scalar()
                    or 0
                )
                report[field]["empty"] += int(found)
                room = sample_size - len(report[field]["contact_ids"])
                if found and room > 0:
                    report[field]["contact_ids"] += list(
                        conn.execute(
                            sa.select(c.c.id)
                            .where(c.c.id.in_(batch), empty)
                            .order_by(c.c.id)
                            .limit(room)
                        ).scalars()
                    )
    return {"template_id": template_id, "recipients": total, "fields": report}
