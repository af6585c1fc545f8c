"""The audit trail: append-only, hash-chained, written in the transaction of the change."""

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
                self.changes,
                self.request_id,
            ],
            sort_keys=True,
            default=_json_default,
        )
        return hashlib.sha256(body.encode()).hexdigest()


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
        rows = conn.execute(
            sa.select(t).where(t.c.id > last_id).order_by(t.c.id).limit(batch)
        ).mappings().all()
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
            )
            if row["prev_hash"] != prev:
                problems.append(f"record {row['id']}: previous hash does not match record before it")
            if record.digest(row["prev_hash"]) != row["hash"]:
                problems.append(f"record {row['id']}: content does not match its hash (altered)")
            prev = row["hash"]
            last_id = row["id"]
            checked += 1
    return checked, problems


def audit_entries(records: Iterable[Any]) -> list[dict[str, Any]]:
    return [dict(r) for r in records]
