"""Inbound mail: replies and DSN bounces become activities on the right contact.

A DSN (``multipart/report; report-type=delivery-status``) with a failed 5.x.x recipient is a
hard bounce: the address is suppressed and ``email_bounced`` logged. Any other message is a
reply when its ``In-Reply-To``/``References`` name one of our Message-IDs or its sender is a
contact: ``email_replied`` is logged. Each inbound Message-ID is processed once.
"""

from __future__ import annotations

import re
from email import message_from_bytes
from email.message import EmailMessage, Message
from email.policy import default
from email.utils import parseaddr
from typing import Any

import attrs
import sqlalchemy as sa

from cultiveat_core import CRM
from cultiveat_core.db import tables as core_tables
from cultiveat_core.db.metadata import utcnow
from cultiveat_email import compose
from cultiveat_email.delivery import _insert_ignore, service
from cultiveat_email.tables import inbound, messages

MSGID = re.compile(r"<[^<>\s]+>")


@attrs.frozen
class Bounce:
    address: str
    status: str
    action: str
    diagnostic: str
    original_message_id: str | None


def _text_of(msg: Message) -> str:
    if isinstance(msg, EmailMessage):
        part = msg.get_body(preferencelist=("plain", "html"))
        if part is not None:
            try:
                return str(part.get_content())
            except (LookupError, KeyError):
                return ""
    return ""


def parse_dsn(msg: Message) -> list[Bounce]:
    """Per-recipient failures of a delivery status notification (RFC 3464)."""
    if (
        msg.get_content_type() != "multipart/report"
        or msg.get_param("report-type") != "delivery-status"
    ):
        return []
    original: str | None = None
    blocks: list[Message] = []
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/delivery-status":
            payload = part.get_payload()
            if isinstance(payload, list):
                blocks.extend(p for p in payload if isinstance(p, Message))
        elif ctype in ("message/rfc822", "text/rfc822-headers"):
            inner = part.get_payload()
            if isinstance(inner, list) and inner:
                original = inner[0].get("Message-ID")
            elif isinstance(inner, str):
                found = re.search(r"^Message-ID:\s*(<[^>]+>)", inner, re.I | re.M)
                original = found.group(1) if found else None
    bounces = []
    for block in blocks:
        recipient = block.get("Final-Recipient") or block.get("Original-Recipient")
        if not recipient:
            continue
        address = recipient.split(";", 1)[-1].strip()
        bounces.append(
            Bounce(
                address=address.lower(),
                status=str(block.get("Status", "")).strip(),
                action=str(block.get("Action", "")).strip().lower(),
                diagnostic=str(block.get("Diagnostic-Code", "")).strip()[:500],
                original_message_id=str(original).strip() if original else None,
            )
        )
    return bounces


def _sent_by_message_id(conn: sa.Connection, ids: list[str]) -> dict[str, Any] | None:
    if not ids:
        return None
    row = (
        conn.execute(
            sa.select(messages)
            .where(messages.c.message_id.in_(ids))
            .order_by(messages.c.id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def _contact_by_address(conn: sa.Connection, address: str) -> int | None:
    c = core_tables.contacts
    return conn.execute(sa.select(c.c.id).where(c.c.email_key == address.lower())).scalar()


def process(crm: CRM, raw: bytes) -> dict[str, Any]:
    """Handle one raw RFC 822 message; answers what it was and which contact it concerned."""
    msg = message_from_bytes(raw, policy=default)
    message_id = str(msg.get("Message-ID") or "").strip() or None
    svc = service(crm)
    with crm.connect() as conn:
        if (
            message_id
            and conn.execute(
                sa.select(inbound.c.kind).where(inbound.c.message_id == message_id)
            ).first()
            is not None
        ):
            return {"kind": "duplicate", "message_id": message_id}
    bounces = [b for b in parse_dsn(msg) if b.action == "failed" and b.status.startswith("5")]
    entries: list[dict[str, Any]] = []
    kind, contact_id = "ignored", None
    with crm.connect() as conn:
        if bounces:
            kind = "bounce"
            for bounce in bounces:
                sent = _sent_by_message_id(
                    conn, [bounce.original_message_id] if bounce.original_message_id else []
                )
                contact_id = (
                    sent["contact_id"] if sent else _contact_by_address(conn, bounce.address)
                )
                meta = dict(sent["meta"] or {}) if sent else {}
                if contact_id is not None:
                    entries.append(
                        {
                            "contact_id": contact_id,
                            "type": "email_bounced",
                            "data": {
                                **meta,
                                "to": bounce.address,
                                "status": bounce.status,
                                "reason": bounce.diagnostic,
                                "message_id": sent["message_id"]
                                if sent
                                else bounce.original_message_id,
                                "bounce": "hard",
                                "source": "dsn",
                                "channel": "email",
                            },
                        }
                    )
        else:
            refs = MSGID.findall(f"{msg.get('In-Reply-To', '')} {msg.get('References', '')}")
            sent = _sent_by_message_id(conn, refs)
            sender = parseaddr(str(msg.get("From", "")))[1]
            contact_id = (
                sent["contact_id"]
                if sent
                else (_contact_by_address(conn, sender) if sender else None)
            )
            if contact_id is not None:
                kind = "reply"
                meta = dict(sent["meta"] or {}) if sent else {}
                entries.append(
                    {
                        "contact_id": contact_id,
                        "type": "email_replied",
                        "data": {
                            **meta,
                            "subject": str(msg.get("Subject", ""))[:300],
                            "from": sender,
                            "message_id": message_id,
                            "in_reply_to": sent["message_id"] if sent else None,
                            "direction": "inbound",
                            "snippet": _text_of(msg)[:500],
                            "channel": "email",
                        },
                    }
                )
    if bounces:
        svc.suppress([b.address for b in bounces], "bounce", detail=bounces[0].diagnostic)
    with crm.transaction(svc.actor) as uow:
        if message_id:
            _insert_ignore(
                uow.conn,
                inbound,
                [
                    {
                        "message_id": message_id[:250],
                        "kind": kind,
                        "contact_id": contact_id,
                        "received_at": utcnow(),
                    }
                ],
                "message_id",
            )
        if entries:
            crm.activities.log_many(svc.actor, entries, uow=uow)
    return {
        "kind": kind,
        "message_id": message_id,
        "contact_id": contact_id,
        "bounced": [compose.address_only(b.address) for b in bounces],
    }
