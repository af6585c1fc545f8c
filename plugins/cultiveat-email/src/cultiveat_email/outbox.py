"""Outbox rows: insert-or-find per (send key, contact), claim one for sending, record results.

A row is claimed (``pending``/``deferred`` -> ``sending``) in its own committed transaction
right before the SMTP transaction; a row still ``sending`` when a job runs again belonged to
a process that died mid-send, so whether it left is unknown: it becomes ``unknown`` and is
never sent again (at most once; the count is reported, see docs/plugins/email.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from cultiveat_core import CRM
from cultiveat_core.db.metadata import utcnow
from cultiveat_email.tables import messages, suppressions

FINAL = ("sent", "failed", "suppressed", "unknown")
RETRYABLE = ("pending", "deferred")


def _insert(dialect: str) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(messages)


def ensure_rows(
    crm: CRM, rows: Sequence[Mapping[str, Any]]
) -> dict[tuple[str, int | None], dict[str, Any]]:
    """Insert rows that do not exist yet; answer every row (new or old) by (send_key, contact)."""
    if not rows:
        return {}
    now = utcnow()
    values = [
        {**row, "status": "pending", "attempts": 0, "created_at": now, "updated_at": now}
        for row in rows
    ]
    keyed = [r for r in values if r["contact_id"] is not None]
    loose = [r for r in values if r["contact_id"] is None]
    with crm.begin() as conn:
        if keyed:
            conn.execute(
                _insert(conn.dialect.name).on_conflict_do_nothing(
                    index_elements=["send_key", "contact_id"]
                ),
                keyed,
            )
        if loose:
            conn.execute(messages.insert(), loose)
        found: dict[tuple[str, int | None], dict[str, Any]] = {}
        keys = sorted({r["send_key"] for r in values})
        contact_ids = sorted({r["contact_id"] for r in keyed})
        if keyed:
            for row in conn.execute(
                sa.select(messages).where(
                    messages.c.send_key.in_(keys), messages.c.contact_id.in_(contact_ids)
                )
            ).mappings():
                found[(row["send_key"], row["contact_id"])] = dict(row)
        if loose:
            ids = [r["message_id"] for r in loose]
            for row in conn.execute(
                sa.select(messages).where(messages.c.message_id.in_(ids))
            ).mappings():
                found[(row["send_key"], None)] = dict(row)
    return found


def mark_in_doubt(crm: CRM, ids: Sequence[int]) -> None:
    if ids:
        with crm.begin() as conn:
            conn.execute(
                messages.update()
                .where(messages.c.id.in_(ids), messages.c.status == "sending")
                .values(
                    status="unknown",
                    updated_at=utcnow(),
                    error="the sending process stopped during the SMTP transaction; "
                    "not resent so the contact never gets it twice",
                )
            )


def suppressed_among(crm: CRM, addresses: Sequence[str]) -> set[str]:
    if not addresses:
        return set()
    with crm.connect() as conn:
        return set(
            conn.execute(
                sa.select(suppressions.c.address).where(
                    suppressions.c.address.in_(sorted(set(addresses)))
                )
            ).scalars()
        )


def set_status(conn: sa.Connection, ids: Sequence[int], status: str, **values: Any) -> None:
    if ids:
        conn.execute(
            messages.update()
            .where(messages.c.id.in_(list(ids)))
            .values(status=status, updated_at=utcnow(), **values)
        )


def claim(conn: sa.Connection, row_id: int) -> bool:
    """Take a row for sending; False when another process already has it or it is finished."""
    result = conn.execute(
        messages.update()
        .where(messages.c.id == row_id, messages.c.status.in_(RETRYABLE))
        .values(status="sending", attempts=messages.c.attempts + 1, updated_at=utcnow())
    )
    return result.rowcount == 1


def finish(
    conn: sa.Connection, row_id: int, status: str, code: int | None, error: str | None
) -> None:
    now = utcnow()
    conn.execute(
        messages.update()
        .where(messages.c.id == row_id)
        .values(
            status=status,
            smtp_code=code,
            error=error,
            updated_at=now,
            sent_at=now if status == "sent" else None,
        )
    )
