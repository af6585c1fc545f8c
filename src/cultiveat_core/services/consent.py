"""Consent per contact and purpose, with its source and time (GDPR art. 7, CAN-SPAM, CCPA).

Records are append-only: the latest record for a (contact, purpose) decides. Channels ask
``allowed_clause`` (set-based, for segment/campaign queries) or ``allowed`` before sending.
Without a record the answer is "no" (opt-in), unless ``CULTIVEAT_CONSENT_DEFAULT=granted``
(B2B legitimate interest), in which case "no record" counts as granted. Contacts re-created
after an erasure get an explicit refusal (see ``privacy.tombstones``), so that setting never
resurrects the consent of an erased person.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from cultiveat_core.db import tables
from cultiveat_core.db.metadata import utcnow
from cultiveat_core.domain import Actor
from cultiveat_core.errors import NotFound, ValidationError
from cultiveat_core.services.unit_of_work import UnitOfWork, transaction

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

PURPOSES = ["email_marketing", "sms", "tracking"]
cs = tables.consents


class ConsentService:
    def __init__(self, crm: CRM) -> None:
        self.crm = crm
        self.purposes: list[str] = list(PURPOSES)  # plugins may append their own purposes

    @property
    def default_granted(self) -> bool:
        return self.crm.settings.consent_default.strip().lower() == "granted"

    def _check_purpose(self, purpose: str) -> None:
        if purpose not in self.purposes:
            raise ValidationError.field(
                "purpose", f"unknown purpose {purpose!r}; use one of " + ", ".join(self.purposes)
            )

    def record(
        self,
        actor: Actor,
        contact_id: int,
        purpose: str,
        granted: bool,
        *,
        source: str,
        uow: UnitOfWork | None = None,
    ) -> None:
        """Record a grant or a withdrawal (audited). Needs ``contacts.update`` on the contact,
        except for the system (unsubscribe links, form submissions run as the system)."""
        self._check_purpose(purpose)
        if not isinstance(granted, bool):
            raise ValidationError.field("granted", "must be true or false")
        if not source or not isinstance(source, str) or len(source) > 200:
            raise ValidationError.field(
                "source", "say where the consent came from (at most 200 characters)"
            )
        with transaction(self.crm, actor, uow) as work:
            owner = work.conn.execute(
                sa.select(tables.contacts.c.owner_id, tables.contacts.c.id).where(
                    tables.contacts.c.id == contact_id
                )
            ).first()
            if owner is None:
                raise NotFound(f"contact {contact_id} does not exist")
            if not actor.is_system:
                self.crm.permissions.require_contact(actor, "update", owner[0])
            work.conn.execute(
                cs.insert().values(
                    contact_id=contact_id,
                    purpose=purpose,
                    granted=granted,
                    source=source,
                    actor_id=actor.user_id,
                    recorded_at=utcnow(),
                )
            )
            work.audit(
                "consent.record",
                "contact",
                contact_id,
                {"purpose": purpose, "granted": granted, "source": source},
            )

    def record_many(self, conn: sa.Connection, rows: Iterable[dict[str, Any]]) -> None:
        """Bulk insert (demo data, imports inside their own audited transaction)."""
        items = [{"recorded_at": utcnow(), "actor_id": None, **r} for r in rows]
        if items:
            conn.execute(cs.insert(), items)

    def latest_clause(self, purpose: str, contact_id_column: Any) -> Any:
        """The latest ``granted`` value for the contact and purpose (NULL without a record)."""
        latest = cs.alias("consent_latest")
        return (
            sa.select(latest.c.granted)
            .where(latest.c.contact_id == contact_id_column, latest.c.purpose == purpose)
            .order_by(latest.c.id.desc())
            .limit(1)
            .correlate_except(latest)
            .scalar_subquery()
        )

    def allowed_clause(self, purpose: str, contact_id_column: Any) -> Any:
        """SQL boolean: may ``purpose`` be used for the contact in ``contact_id_column``?"""
        self._check_purpose(purpose)
        latest = self.latest_clause(purpose, contact_id_column)
        if self.default_granted:
            return sa.func.coalesce(latest, sa.true()) == sa.true()
        return latest == sa.true()

    def allowed(self, conn: sa.Connection, contact_ids: Iterable[int], purpose: str) -> set[int]:
        ids = list(contact_ids)
        if not ids:
            return set()
        c = tables.contacts
        query = sa.select(c.c.id).where(c.c.id.in_(ids), self.allowed_clause(purpose, c.c.id))
        return set(conn.execute(query).scalars())

    def history(self, actor: Actor, contact_id: int) -> list[dict[str, Any]]:
        self.crm.contacts.get(actor, contact_id)  # read permission and existence
        with self.crm.engine.connect() as conn:
            rows = conn.execute(
                sa.select(cs).where(cs.c.contact_id == contact_id).order_by(cs.c.id)
            ).mappings()
            return [
                {
                    "purpose": r["purpose"],
                    "granted": r["granted"],
                    "source": r["source"],
                    "recorded_at": r["recorded_at"].isoformat(),
                    "actor_id": r["actor_id"],
                }
                for r in rows
            ]

    def current(self, actor: Actor, contact_id: int) -> dict[str, bool]:
        """The effective state per purpose (defaults applied)."""
        state = {p: self.default_granted for p in self.purposes}
        for item in self.history(actor, contact_id):
            if item["purpose"] in state:
                state[item["purpose"]] = item["granted"]
        return state
