"""Outbox rows: insert-or-find per (send key, contact), claim a chunk for sending, record results.

All set-based: one transaction finds the suppressed addresses, inserts the chunk's new rows
already claimed (``sending``, or ``suppressed``) and claims the older ones that are to be
sent (``pending``/``deferred`` -> ``sending`` with ``UPDATE ... RETURNING``); the outcomes are
recorded in small set-based transactions as the chunk is sent. A row is ``sending`` only while a process holds
its claim; the claim is a lease (``updated_at`` + ``CULTIVEAT_EMAIL_SEND_LEASE_SECONDS``) that
the sending process renews. A row still ``sending`` after its lease ran out belonged to a
process that died during the chunk: it is claimed again and resent **with the same
Message-ID**, so a message the server had already accepted arrives twice with one Message-ID,
which the receiving side deduplicates (see docs/plugins/email.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from cultiveat_core.db.metadata import utcnow
from cultiveat_email.tables import messages, suppressions

# ``unknown`` is what an earlier version left for rows in flight at a crash: final, never resent.
FINAL = ("sent", "failed", "suppressed", "unknown")
RETRYABLE = ("pending", "deferred")


def _insert(dialect: str) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(messages)


def ensure_rows(
    conn: sa.Connection, rows: Sequence[Mapping[str, Any]]
) -> tuple[dict[tuple[str, int | None], dict[str, Any]], set[int]]:
    """Insert rows that do not exist yet; answer every row (new or old) by (send_key, contact)
    and the ids of the rows this call inserted.

    A row may carry its ``status``: the caller inserts the rows it is about to send as
    ``sending`` (``attempts`` 1), which is its claim on them from the start (nobody else can
    hold a row that did not exist), so a new row needs no separate claiming UPDATE. One
    multi-row ``INSERT ... ON CONFLICT DO NOTHING RETURNING id`` statement.
    """
    if not rows:
        return {}, set()
    now = utcnow()
    values = [
        {"status": "pending", "attempts": 0, **row, "created_at": now, "updated_at": now}
        for row in rows
    ]
    keyed = [r for r in values if r["contact_id"] is not None]
    loose = [r for r in values if r["contact_id"] is None]
    inserted: set[int] = set()
    if keyed:
        inserted.update(
            conn.execute(
                _insert(conn.dialect.name)
                .on_conflict_do_nothing(index_elements=["send_key", "contact_id"])
                .returning(messages.c.id),
                keyed,
            ).scalars()
        )
    if loose:
        inserted.update(conn.execute(messages.insert().returning(messages.c.id), loose).scalars())
    found: dict[tuple[str, int | None], dict[str, Any]] = {}
    if keyed:
        keys = sorted({r["send_key"] for r in keyed})
        contact_ids = sorted({r["contact_id"] for r in keyed})
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
    return found, inserted


def claimable(row: Mapping[str, Any], expired_before: datetime) -> bool:
    """Waiting to be sent, or claimed by a process whose lease ran out (it died mid-chunk)."""
    if row["status"] in RETRYABLE:
        return True
    return row["status"] == "sending" and row["updated_at"] < expired_before


def suppressed_among(conn: sa.Connection, addresses: Sequence[str]) -> set[str]:
    if not addresses:
        return set()
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


def claim_many(conn: sa.Connection, ids: Sequence[int], expired_before: datetime) -> set[int]:
    """Take rows for sending in one statement; answer the ids this call got.

    A row another process claimed (lease still running) or finished meanwhile is not taken:
    on PostgreSQL the concurrent UPDATE waits for the other transaction and re-checks the
    condition, so two processes never both claim a row.
    """
    if not ids:
        return set()
    got = conn.execute(
        messages.update()
        .where(
            messages.c.id.in_(list(ids)),
            sa.or_(
                messages.c.status.in_(RETRYABLE),
                sa.and_(messages.c.status == "sending", messages.c.updated_at < expired_before),
            ),
        )
        .values(status="sending", attempts=messages.c.attempts + 1, updated_at=utcnow())
        .returning(messages.c.id)
    )
    return set(got.scalars())


def renew(conn: sa.Connection, ids: Sequence[int]) -> None:
    """Extend the claim of rows still being sent by this process."""
    if ids:
        conn.execute(
            messages.update()
            .where(messages.c.id.in_(list(ids)), messages.c.status == "sending")
            .values(updated_at=utcnow())
        )


def finish_many(
    conn: sa.Connection, outcomes: Sequence[tuple[int, str, int | None, str | None]]
) -> None:
    """Record ``(row id, status, smtp code, error)`` outcomes: one UPDATE for the sent rows,
    one executemany for the others. Only rows still ``sending`` are changed (a row another
    process re-claimed and finished keeps that outcome)."""
    if not outcomes:
        return
    now = utcnow()
    sent = [o[0] for o in outcomes if o[1] == "sent"]
    if sent:
        conn.execute(
            messages.update()
            .where(messages.c.id.in_(sent), messages.c.status == "sending")
            .values(status="sent", smtp_code=250, error=None, updated_at=now, sent_at=now)
        )
    others = [
        {"rid": rid, "st": status, "code": code, "err": error}
        for rid, status, code, error in outcomes
        if status != "sent"
    ]
    if others:
        conn.execute(
            messages.update()
            .where(messages.c.id == sa.bindparam("rid"), messages.c.status == "sending")
            .values(
                status=sa.bindparam("st"),
                smtp_code=sa.bindparam("code"),
                error=sa.bindparam("err"),
                updated_at=now,
            ),
            others,
        )
