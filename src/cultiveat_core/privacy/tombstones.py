"""Erasure tombstones: a keyed hash of an erased email, so a re-import does not resurrect consent.

Only ``HMAC-SHA256(secret_key, email_key)`` is kept: it cannot be reversed into the address,
and it lets the core recognise the person if they come back (``contacts_created``), in which
case every consent purpose starts as an explicit refusal with source ``erasure tombstone``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import TYPE_CHECKING

import sqlalchemy as sa

from cultiveat_core.db import tables

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

SOURCE = "erasure tombstone"


def email_hash(crm: CRM, email_key: str) -> str:
    key = (crm.settings.secret_key or "cultiveat-tombstones").encode()
    return hmac.new(key, email_key.strip().lower().encode(), hashlib.sha256).hexdigest()


def tombstoned(crm: CRM, conn: sa.Connection, email_keys: Iterable[str]) -> set[str]:
    """The email keys among ``email_keys`` that belong to erased people, lower-cased (the form
    the tombstone's hash was made from: ``Ann@Example.com`` and ``ann@example.com`` match).

    Called for every batch of created contacts (an import asks for 5,000 at a time): without
    any tombstone it answers from one probe, and on PostgreSQL the hashes go as one array
    parameter (``= ANY``) instead of 5,000 bind parameters (88 ms a batch on an empty table).
    """
    t = tables.erasure_tombstones
    keys = list(email_keys)
    if not keys or conn.execute(sa.select(t.c.email_hash).limit(1)).first() is None:
        return set()
    by_hash = {email_hash(crm, k): k.strip().lower() for k in keys}
    if conn.dialect.name == "postgresql":
        found = conn.execute(
            sa.text("SELECT email_hash FROM core_erasure_tombstones WHERE email_hash = ANY(:hashes)"),
            {"hashes": list(by_hash)},
        ).scalars()
    else:
        found = conn.execute(sa.select(t.c.email_hash).where(t.c.email_hash.in_(list(by_hash)))).scalars()
    return {by_hash[h] for h in found}


def refuse_consent_for_returning(crm: CRM, contacts: Iterable[tuple[int, str]]) -> int:
    """Record an explicit refusal for every purpose for re-created contacts; returns how many."""
    pairs = list(contacts)
    if not pairs:
        return 0
    with crm.begin() as conn:
        returning = tombstoned(crm, conn, [email for _, email in pairs])
        ids = [cid for cid, email in pairs if email.strip().lower() in returning]
        crm.consent.record_many(
            conn,
            [
                {"contact_id": cid, "purpose": purpose, "granted": False, "source": SOURCE}
                for cid in ids
                for purpose in crm.consent.purposes
            ],
        )
    return len(ids)
