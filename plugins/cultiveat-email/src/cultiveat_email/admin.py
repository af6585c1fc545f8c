"""What users do with the email plugin (permission-checked, audited): test sends, the outbox,
the suppression list."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from cultiveat_core import CRM, Actor, NotFound
from cultiveat_core.db.metadata import utcnow
from cultiveat_email import compose
from cultiveat_email.delivery import service
from cultiveat_email.smtp import parse_smtp_url
from cultiveat_email.tables import messages, suppressions

PAGE_MAX = 200


def queue_test(crm: CRM, actor: Actor, to: str) -> str:
    crm.permissions.require(actor, "email.manage")
    compose.check_address("to", to)
    parse_smtp_url(service(crm).settings.smtp_url)
    with crm.transaction(actor) as uow:
        uow.audit("email.test", "email", None, {"to": to})
        return crm.jobs.enqueue("email.test", {"to": to}, uow=uow)


def send_test(crm: CRM, to: str) -> dict[str, Any]:
    """Send one test message now (the ``email.test`` job and ``cultiveat email test``)."""
    import uuid

    result = service(crm).deliver(
        [
            {
                "key": f"test:{uuid.uuid4().hex}",
                "contact_id": None,
                "to": to,
                "subject": "Cultiveat test email",
                "text": "This is a test message from Cultiveat: SMTP delivery works.",
            }
        ]
    )[0]
    return {k: result[k] for k in ("to", "status", "message_id", "code", "error")}


def list_messages(
    crm: CRM,
    actor: Actor,
    *,
    contact_id: int | None = None,
    status: str | None = None,
    limit: int = 50,
    before_id: int | None = None,
) -> list[dict[str, Any]]:
    crm.permissions.require(actor, "email.read")
    query = sa.select(messages).order_by(messages.c.id.desc()).limit(max(1, min(limit, PAGE_MAX)))
    if contact_id is not None:
        query = query.where(messages.c.contact_id == contact_id)
    if status:
        query = query.where(messages.c.status == status)
    if before_id is not None:
        query = query.where(messages.c.id < before_id)
    with crm.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [
        {
            **{
                k: row[k]
                for k in (
                    "id",
                    "send_key",
                    "contact_id",
                    "to_address",
                    "subject",
                    "message_id",
                    "status",
                    "attempts",
                    "smtp_code",
                    "error",
                )
            },
            "meta": row["meta"],
            "created_at": row["created_at"].isoformat(),
            "sent_at": row["sent_at"].isoformat() if row["sent_at"] else None,
        }
        for row in rows
    ]


def list_suppressions(crm: CRM, actor: Actor, limit: int = 100) -> list[dict[str, Any]]:
    crm.permissions.require(actor, "email.read")
    with crm.connect() as conn:
        rows = (
            conn.execute(
                sa.select(suppressions)
                .order_by(suppressions.c.created_at.desc())
                .limit(max(1, min(limit, PAGE_MAX)))
            )
            .mappings()
            .all()
        )
    return [{**dict(row), "created_at": row["created_at"].isoformat()} for row in rows]


def add_suppression(crm: CRM, actor: Actor, address: str, reason: str = "manual") -> dict[str, Any]:
    crm.permissions.require(actor, "email.manage")
    compose.check_address("address", address)
    key = compose.address_only(address)
    with crm.transaction(actor) as uow:
        exists = uow.conn.execute(
            sa.select(suppressions.c.address).where(suppressions.c.address == key)
        ).first()
        if exists is None:
            uow.conn.execute(
                suppressions.insert().values(
                    address=key, reason="manual", detail=reason[:1000], created_at=utcnow()
                )
            )
        uow.audit("email.suppress", "email_address", key, {"reason": reason})
    return {"address": key, "reason": "manual"}


def remove_suppression(crm: CRM, actor: Actor, address: str) -> None:
    crm.permissions.require(actor, "email.manage")
    compose.check_address("address", address)  # not an address: 422, not a parser crash (500)
    key = compose.address_only(address)
    with crm.transaction(actor) as uow:
        result = uow.conn.execute(suppressions.delete().where(suppressions.c.address == key))
        if result.rowcount == 0:
            raise NotFound(f"{key} is not on the suppression list")
        uow.audit("email.unsuppress", "email_address", key, {})


def describe(crm: CRM, actor: Actor) -> dict[str, Any]:
    """The settings in force, without secrets."""
    crm.permissions.require(actor, "email.read")
    settings = service(crm).settings
    cfg = parse_smtp_url(settings.smtp_url)
    return {
        "smtp_host": cfg.host,
        "smtp_port": cfg.port,
        "starttls": cfg.starttls,
        "ssl": cfg.ssl,
        "auth": cfg.username is not None,
        "from": settings.sender,
        "rate_limit": settings.rate_limit,
        "domain_rate_limit": settings.domain_rate_limit,
        "imap_enabled": bool(settings.imap_url),
        "webhooks_enabled": bool(settings.webhook_secret),
    }
