"""Erasure (GDPR art. 17, CCPA deletion): the contact and everything about it, everywhere.

Order: every plugin's ``erase_contact_data(crm, contact)`` first (each in its own
transaction: they are idempotent deletes, so a failure leaves the contact in place and the
erasure can simply be retried), then one core transaction that deletes the contact (its
activities, tags and consent records cascade), redacts the ``changes`` of audit records
about the contact and its activities (the hash chain stays verifiable), writes a tombstone
and audits ``contact.erase`` with counts only, never the erased data.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from cultiveat_core.db import tables
from cultiveat_core.db.metadata import utcnow
from cultiveat_core.domain import Actor, Contact
from cultiveat_core.errors import Conflict, NotFound
from cultiveat_core.privacy.tombstones import email_hash
from cultiveat_core.services.audit import redact
from cultiveat_core.services.unit_of_work import transaction

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

log = logging.getLogger("cultiveat.privacy")


def load_contact(crm: CRM, contact_id: int) -> Contact:
    with crm.engine.connect() as conn:
        found = crm.contacts.load(conn, [contact_id])
    if not found:
        raise NotFound(f"contact {contact_id} does not exist")
    return found[0]


def erase_contact(
    crm: CRM, actor: Actor, contact_id: int, *, reason: str = "request"
) -> dict[str, Any]:
    """Erase one contact (``privacy.manage``); returns what was removed, in counts."""
    crm.permissions.require(actor, "privacy.manage")
    started = time.perf_counter()
    contact = load_contact(crm, contact_id)
    plugins: dict[str, str] = {}
    for impl in crm.pm.hook.erase_contact_data.get_hookimpls():
        try:
            impl.function(**{a: {"crm": crm, "contact": contact}[a] for a in impl.argnames})
        except Exception as exc:
            log.exception("plugin %s failed to erase contact %s", impl.plugin_name, contact_id)
            raise Conflict(
                f"plugin {impl.plugin_name!r} could not erase its data ({type(exc).__name__}); "
                "nothing of the core contact was erased; fix the plugin and erase again"
            ) from exc
        plugins[impl.plugin_name] = "erased"
    c, a = tables.contacts, tables.activities
    with transaction(crm, actor) as work:
        activity_ids = list(
            work.conn.execute(sa.select(a.c.id).where(a.c.contact_id == contact_id)).scalars()
        )
        redacted = redact(work.conn, "contact", [contact_id])
        for start in range(0, len(activity_ids), 1000):
            redacted += redact(work.conn, "activity", activity_ids[start : start + 1000])
        work.conn.execute(a.delete().where(a.c.contact_id == contact_id))
        deleted = work.conn.execute(c.delete().where(c.c.id == contact_id)).rowcount
        if deleted != 1:
            raise NotFound(f"contact {contact_id} does not exist")
        digest = email_hash(crm, contact.email)
        t = tables.erasure_tombstones
        if work.conn.execute(sa.select(t.c.id).where(t.c.email_hash == digest)).first() is None:
            work.conn.execute(
                t.insert().values(email_hash=digest, reason=reason, erased_at=utcnow())
            )
        summary = {
            "activities": len(activity_ids),
            "audit_records_redacted": redacted,
            "plugins": sorted(plugins),
            "reason": reason,
        }
        work.audit("contact.erase", "contact", contact_id, summary)
    return summary | {"contact_id": contact_id, "seconds": round(time.perf_counter() - started, 3)}
