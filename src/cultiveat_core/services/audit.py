"""The audit trail: append-only, hash-chained, written in the transaction of the change.

The chain hashes ``changes_hash`` (the SHA-256 of the canonical ``changes``) rather than the
changes themselves, so an erasure can redact personal data from old records (``redact``)
while ``verify_chain`` still proves that no record was added, removed, reordered or altered.
A database trigger (migration core_0200) refuses DELETE and any UPDATE but that redaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import attrs
import sqlalchemy as sa

from cultiveat_core.db import tables
from cultiveat_core.db.metadata import utcnow
from cultiveat_core.domain import Actor

GENESIS = "0" * 64
AUDIT_LOCK_KEY = 0x43554C54  # pg_advisory_xact_lock key serialising the chain ("CULT")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def canonical(value: Any) -> Any:
    """The JSON form stored and hashed (so what is stored is exactly what was hashed)."""
    return json.loads(json.dumps(value, default=_json_default, sort_keys=True))


@attrs.frozen
class AuditRecord:
    occurred_at: datetime
    actor_id: int | None
    actor: str
    action: str
    object_type: str
    object_id: str | None
    changes: dict[str, Any]
    request_id: str | None
    changes_hash: str = ""

    @classmethod
    def create(
        cls, actor: Actor, action: str, object_type: str, object_id: Any, changes: dict[str, Any]
    ) -> AuditRecord:
        return cls(
            occurred_at=utcnow(),
            actor_id=actor.user_id,
            actor=actor.label,
            action=action,
            object_type=object_type,
            object_id=None if object_id is None else str(object_id),
            changes=canonical(changes),
            request_id=actor.request_id,
            changes_hash=changes_digest(canonical(changes)),
        )

    def digest(self, prev_hash: str) -> str:
        body = json.dumps(
            [
                prev_hash,
                self.occurred_at.isoformat(),
                self.actor_id,
                self.actor,
                self.action,
                self.object_type,
                self.object_id,
                self.changes_hash,
                self.request_id,
            ],
            sort_keys=True,
            default=_json_default,
        )
        return hashlib.sha256(body.encode()).hexdigest()


def changes_digest(changes: Any) -> str:
    body = json.dumps(changes, sort_keys=True, default=_json_default)
    return hashlib.sha256(body.encode()).hexdigest()


REDACTED = {"redacted": "personal data erased"}


def redact(conn: sa.Connection, object_type: str, object_ids: Sequence[Any]) -> int:
    """Blank the ``changes`` of every record about these objects (erasure); the chain holds."""
    t = tables.audit_log
    ids = [str(i) for i in object_ids]
    if not ids:
        return 0
    result = conn.execute(
        t.update()
        .where(t.c.object_type == object_type, t.c.object_id.in_(ids), t.c.redacted_at.is_(None))
        .values(changes=REDACTED, redacted_at=utcnow())
    )
    return int(result.rowcount or 0)


def _last_hash(conn: sa.Connection) -> str:
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": AUDIT_LOCK_KEY})
    row = conn.execute(
        sa.select(tables.audit_log.c.hash).order_by(tables.audit_log.c.id.desc()).limit(1)
    ).first()
    return row[0] if row else GENESIS


def write_audit_records(conn: sa.Connection, records: Sequence[AuditRecord]) -> None:
    prev = _last_hash(conn)
    rows = []
    for record in records:
        digest = record.digest(prev)
        rows.append({**attrs.asdict(record), "prev_hash": prev, "hash": digest})
        prev = digest
    conn.execute(tables.audit_log.insert(), rows)


def verify_chain(conn: sa.Connection, batch: int = 5000) -> tuple[int, list[str]]:
    """Walk the chain; return (records checked, problems found)."""
    t = tables.audit_log
    prev = GENESIS
    problems: list[str] = []
    checked = 0
    last_id = 0
    while True:
        rows = (
            conn.execute(sa.select(t).where(t.c.id > last_id).order_by(t.c.id).limit(batch))
            .mappings()
            .all()
        )
        if not rows:
            break
        for row in rows:
            record = AuditRecord(
                occurred_at=row["occurred_at"],
                actor_id=row["actor_id"],
                actor=row["actor"],
                action=row["action"],
                object_type=row["object_type"],
                object_id=row["object_id"],
                changes=row["changes"],
                request_id=row["request_id"],
                changes_hash=row["changes_hash"] or "",
            )
            if row["redacted_at"] is None and changes_digest(row["changes"]) != row["changes_hash"]:
                problems.append(f"record {row['id']}: changes do not match their hash (altered)")
            if row["prev_hash"] != prev:
                problems.append(
                    f"record {row['id']}: previous hash does not match record before it"
                )
            if record.digest(row["prev_hash"]) != row["hash"]:
                problems.append(f"record {row['id']}: content does not match its hash (altered)")
            prev = row["hash"]
            last_id = row["id"]
            checked += 1
    return checked, problems


def audit_entries(records: Iterable[Any]) -> list[dict[str, Any]]:
    return [dict(r) for r in records]
