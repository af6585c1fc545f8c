"""Hook implementations of the email plugin (entry point ``email``)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from cultiveat_core import CRM, Contact, PeriodicTask, Permission, Task, hookimpl
from cultiveat_email import hookspecs as hookspecs

PERMISSIONS = [
    Permission(
        "email.read",
        "See the outbox, suppressions and email settings",
        ("marketing", "sales", "executive"),
    ),
    Permission("email.manage", "Send test emails and manage the suppression list", ("marketing",)),
]


@hookimpl
def register_settings(crm: CRM) -> list[type]:
    from cultiveat_email.settings import EmailSettings

    return [EmailSettings]


@hookimpl
def register_migrations(crm: CRM) -> list[str]:
    return [str(Path(__file__).parent / "migrations" / "versions")]


@hookimpl
def register_permissions(crm: CRM) -> list[Permission]:
    return list(PERMISSIONS)


@hookimpl
def register_tasks(crm: CRM) -> list[Task]:
    from cultiveat_email.tasks import TASKS

    return list(TASKS)


@hookimpl
def register_periodic_tasks(crm: CRM) -> list[PeriodicTask]:
    from cultiveat_email.settings import load

    settings = load(crm)
    if not settings.imap_url:
        return []
    return [
        PeriodicTask(
            "email.poll_inbox", "email.poll_inbox", timedelta(seconds=settings.imap_poll_seconds)
        )
    ]


@hookimpl
def register_routes(crm: CRM) -> list[Any]:
    from cultiveat_email.routes import ROUTES

    return list(ROUTES)


@hookimpl
def register_commands(crm: CRM) -> list[Any]:
    from cultiveat_email.commands import email_group

    return [email_group]


@hookimpl
def register_esp_adapters(crm: CRM) -> list[Any]:
    from cultiveat_email.esp import GenericAdapter

    return [GenericAdapter()]


@hookimpl(optionalhook=True)
def register_channels(crm: CRM) -> list[Any]:
    """The campaigns plugin's channel hook (absent when campaigns is not installed)."""
    from email.utils import parseaddr

    from cultiveat_email.channel import EmailChannel
    from cultiveat_email.settings import load

    settings = load(crm)
    return [
        EmailChannel(
            batch_size=max(1, settings.batch_size), sender_email=parseaddr(settings.sender)[1]
        )
    ]


@hookimpl(optionalhook=True)
def contact_data_for_subject_access(crm: CRM, contact: Contact) -> dict[str, Any]:
    from cultiveat_email.tables import messages

    with crm.connect() as conn:
        rows = (
            conn.execute(
                sa.select(messages)
                .where(messages.c.contact_id == contact.id)
                .order_by(messages.c.id)
            )
            .mappings()
            .all()
        )
    return {
        "email_messages": [
            {
                "to": r["to_address"],
                "subject": r["subject"],
                "status": r["status"],
                "message_id": r["message_id"],
                "created_at": r["created_at"].isoformat(),
                "sent_at": r["sent_at"].isoformat() if r["sent_at"] else None,
            }
            for r in rows
        ]
    }


@hookimpl(optionalhook=True)
def erase_contact_data(crm: CRM, contact: Contact) -> None:
    """Drop the contact's outbox rows; the suppression entry stays (it keeps them from mail)."""
    from cultiveat_email.tables import inbound, messages

    with crm.begin() as conn:
        conn.execute(messages.delete().where(messages.c.contact_id == contact.id))
        conn.execute(inbound.delete().where(inbound.c.contact_id == contact.id))
