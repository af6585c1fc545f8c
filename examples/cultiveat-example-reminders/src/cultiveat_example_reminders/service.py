"""The reminders use cases: the only writer of ``reminders_reminders``.

Every method checks the actor's permissions itself (routes, CLI and jobs all come through
here), writes in one unit of work and records what it did with ``uow.audit``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from cultiveat_core import CRM, Actor
from cultiveat_core.db.metadata import utcnow
from cultiveat_example_reminders.domain import Reminder
from cultiveat_example_reminders.settings import RemindersSettings
from cultiveat_example_reminders.tables import reminders as r
from cultiveat_example_reminders.validation import clean_reminder

MANAGE = "reminders.manage"
REMINDER_DUE = "reminder_due"


class RemindersService:
    def __init__(self, crm: CRM) -> None:
        self.crm = crm

    def create(self, actor: Actor, contact_id: int, data: Mapping[str, Any]) -> Reminder:
        """A reminder for ``contact_id`` (``{"due_at", "note"}``); needs ``reminders.manage``."""
        self.crm.permissions.require(actor, MANAGE)
        values = clean_reminder(data)
        with self.crm.transaction(actor) as uow:
            self.crm.contacts.get(actor, contact_id, uow=uow)  # 404 for an unknown contact
            row = uow.conn.execute(
                r.insert()
                .values(contact_id=contact_id, created_by=actor.user_id, created_at=utcnow(),
                        **values)
                .returning(r)
            ).mappings().one()
            reminder = Reminder.from_row(row)
            uow.audit("reminder.create", "reminder", reminder.id, {"after": reminder.as_dict()})
        return reminder

    def for_contact(self, actor: Actor, contact_id: int) -> list[Reminder]:
        """A contact's reminders by due time; anyone who may read the contact may read them."""
        self.crm.contacts.get(actor, contact_id)
        with self.crm.connect() as conn:
            rows = conn.execute(
                sa.select(r).where(r.c.contact_id == contact_id).order_by(r.c.due_at, r.c.id)
            ).mappings()
            return [Reminder.from_row(row) for row in rows]

    def send_due(self, actor: Actor, now: datetime | None = None) -> list[Reminder]:
        """Send one batch of due reminders: mark them sent and log a ``reminder_due`` activity
        on each contact, in one transaction; ``reminders_sent`` fires after the commit.

        Only unsent reminders are picked (locked on PostgreSQL), so running it twice, or in
        two workers at once, never sends one twice.
        """
        self.crm.permissions.require(actor, MANAGE)
        now = now or utcnow()
        batch = self.crm.plugin_settings(RemindersSettings).batch_size
        with self.crm.transaction(actor) as uow:
            due = (
                sa.select(r)
                .where(r.c.sent_at.is_(None), r.c.due_at <= now)
                .order_by(r.c.due_at, r.c.id)
                .limit(batch)
            )
            if uow.conn.dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True)
            rows = uow.conn.execute(due).mappings().all()
            if not rows:
                return []
            ids = [row["id"] for row in rows]
            uow.conn.execute(r.update().where(r.c.id.in_(ids)).values(sent_at=now))
            sent = [Reminder.from_row({**row, "sent_at": now}) for row in rows]
            self.crm.activities.log_many(
                actor,
                [
                    {
                        "contact_id": reminder.contact_id,
                        "type": REMINDER_DUE,
                        "occurred_at": now,
                        "data": {"reminder_id": reminder.id, "note": reminder.note},
                    }
                    for reminder in sent
                ],
                uow=uow,
            )
            uow.audit("reminder.send", "reminder", None, {"ids": ids})
            uow.emit("reminders_sent", reminders=sent)
        return sent


def reminders_about(crm: CRM, contact_id: int) -> list[Reminder]:
    """Every reminder on a contact, for its subject-access export (the core checked who asks)."""
    with crm.connect() as conn:
        rows = conn.execute(sa.select(r).where(r.c.contact_id == contact_id).order_by(r.c.id))
        return [Reminder.from_row(row) for row in rows.mappings()]


def erase_reminders(crm: CRM, contact_id: int) -> int:
    """Delete a contact's reminders (erasure); running it again deletes nothing more."""
    with crm.begin() as conn:
        return int(conn.execute(r.delete().where(r.c.contact_id == contact_id)).rowcount)


def reminders_service(crm: CRM) -> RemindersService:
    """The plugin's service object for ``crm`` (kept in ``crm.extensions["reminders"]``)."""
    service = crm.extensions.get("reminders")
    if service is None:
        service = crm.extensions.setdefault("reminders", RemindersService(crm))
    assert isinstance(service, RemindersService)
    return service
