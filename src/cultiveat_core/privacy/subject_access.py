"""Subject access (GDPR art. 15, CCPA right to know): everything held about a contact, as JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from cultiveat_core.db import tables
from cultiveat_core.db.metadata import utcnow
from cultiveat_core.domain import Actor
from cultiveat_core.privacy.encryption import decrypt_sensitive_values
from cultiveat_core.privacy.erasure import load_contact
from cultiveat_core.services.audit import canonical
from cultiveat_core.services.unit_of_work import transaction

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM


def subject_access(crm: CRM, actor: Actor, contact_id: int) -> dict[str, Any]:
    """The contact, its activities, tags, consent history, audit trail and every plugin's data
    (``contact_data_for_subject_access``, keyed by plugin). Needs ``privacy.manage``; audited."""
    crm.permissions.require(actor, "privacy.manage")
    contact = load_contact(crm, contact_id)
    a, cs, al = tables.activities, tables.consents, tables.audit_log
    with crm.engine.connect() as conn:
        activities = conn.execute(
            sa.select(a).where(a.c.contact_id == contact_id).order_by(a.c.occurred_at, a.c.id)
        ).mappings()
        activity_rows = [
            {"id": r["id"], "type": r["type"], "occurred_at": r["occurred_at"], "data": r["data"]}
            for r in activities
        ]
        consents = [
            {k: r[k] for k in ("purpose", "granted", "source", "recorded_at")}
            for r in conn.execute(
                sa.select(cs).where(cs.c.contact_id == contact_id).order_by(cs.c.id)
            ).mappings()
        ]
        audit = [
            {k: r[k] for k in ("occurred_at", "actor", "action")}
            | {"changes": decrypt_sensitive_values(crm, r["changes"])}  # the subject's own data
            for r in conn.execute(
                sa.select(al)
                .where(al.c.object_type == "contact", al.c.object_id == str(contact_id))
                .order_by(al.c.id)
            ).mappings()
        ]
    plugins: dict[str, Any] = {}
    for impl in crm.pm.hook.contact_data_for_subject_access.get_hookimpls():
        result = impl.function(**{k: {"crm": crm, "contact": contact}[k] for k in impl.argnames})
        if result:
            plugins[impl.plugin_name] = result
    with transaction(crm, actor) as work:
        work.audit("contact.subject_access", "contact", contact_id, {"plugins": sorted(plugins)})
    export: dict[str, Any] = canonical(
        {
            "generated_at": utcnow(),
            "contact": contact.as_dict(),
            "activities": activity_rows,
            "consents": consents,
            "audit": audit,
            "plugins": plugins,
        }
    )
    return export
