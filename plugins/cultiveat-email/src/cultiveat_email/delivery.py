"""Delivering a batch of messages: outbox rows first (set-based), then SMTP, then the outcomes.

This runs inside a job (never in a request). One transaction inserts-or-finds the outbox rows,
skips the ones already handled and the suppressed addresses, and claims the rest (a lease);
the messages go over one SMTP connection (throttled, 4xx/connection errors retried with
backoff, 5xx failed and the address suppressed); one transaction records the outcomes.
Activities (``email_sent``, ``email_bounced``) are logged for the batch with one ``log_many``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from cultiveat_core import CRM, Actor, ValidationError
from cultiveat_core.db import tables as core_tables
from cultiveat_core.db.metadata import utcnow
from cultiveat_email import compose, outbox
from cultiveat_email.settings import EmailSettings, load
from cultiveat_email.smtp import Outcome, SmtpSender, parse_smtp_url
from cultiveat_email.tables import suppressions
from cultiveat_email.throttle import Throttle

log = logging.getLogger("cultiveat.email")


RECORD_EVERY = 10  # outcomes written per transaction while a chunk is being sent
SUPPRESSED_ERROR = "the address is suppressed (an earlier bounce or complaint)"
SMTP_IDLE_SECONDS = 20.0  # a thread's SMTP connection unused longer than this is reopened


@contextmanager
def _write(conn: sa.Connection) -> Iterator[sa.Connection]:
    """A write transaction on a held connection (as ``crm.begin()``: on SQLite the write lock
    is taken up front)."""
    if conn.dialect.name == "sqlite":
        conn.info["immediate"] = True
    with conn.begin():
        yield conn


class DeliveryDeferred(Exception):
    """Some messages met 4xx/connection errors after the in-job retries: retry the job later."""


def _insert_ignore(
    conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]], key: str
) -> None:
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    conn.execute(insert(table).on_conflict_do_nothing(index_elements=[key]), rows)


def throttle_redis_url(crm: CRM, settings: EmailSettings) -> str:
    """The Redis shared by the throttles: the setting, else the broker when it is Redis."""
    url = settings.throttle_redis_url.strip()
    if url.lower() in ("off", "none", "0"):
        return ""
    if url:
        return url
    broker = crm.settings.broker_url or ""
    return broker if broker.startswith(("redis://", "rediss://", "unix://")) else ""


class EmailService:
    """``crm.extensions["email"]``: delivery, suppression and the settings in force."""

    def __init__(self, crm: CRM) -> None:
        self.crm = crm
        self.settings: EmailSettings = load(crm)
        self.throttle = Throttle(
            self.settings.rate_limit,
            self.settings.domain_rate_limit,
            throttle_redis_url(crm, self.settings),
            crm.settings.broker_queue or "cultiveat",
        )
        self.actor = Actor.system("email")
        self._local = threading.local()  # each sending thread's SMTP connection

    @property
    def sender(self) -> str:
        if not self.settings.sender:
            raise ValidationError.field(
                "CULTIVEAT_EMAIL_FROM",
                "no sender address configured: set CULTIVEAT_EMAIL_FROM, "
                "e.g. CULTIVEAT_EMAIL_FROM='Cultiveat <crm@example.com>'",
            )
        return self.settings.sender

    # -- suppression ----------------------------------------------------------------------

    def suppress(
        self,
        addresses: Sequence[str],
        reason: str,
        *,
        code: int | None = None,
        detail: str | None = None,
    ) -> None:
        rows = [
            {
                "address": compose.address_only(a),
                "reason": reason,
                "smtp_code": code,
                "detail": (detail or "")[:1000],
                "created_at": utcnow(),
            }
            for a in addresses
        ]
        with self.crm.begin() as conn:
            _insert_ignore(conn, suppressions, rows, "address")

    def unsuppress(self, address: str) -> bool:
        with self.crm.begin() as conn:
            result = conn.execute(
                suppressions.delete().where(suppressions.c.address == compose.address_only(address))
            )
        return result.rowcount > 0

    # -- delivery -------------------------------------------------------------------------

    def _prepare(self, item: Mapping[str, Any]) -> dict[str, Any]:
        to = compose.check_address("to", str(item.get("to") or ""))
        subject = compose.check_header("subject", str(item.get("subject") or ""))
        key = str(item.get("key") or "")
        if not key:
            raise ValidationError.field("key", "every message needs a send key, e.g. 'campaign:12'")
        return {
            "send_key": key[:200],
            "contact_id": item.get("contact_id"),
            "to_address": compose.address_only(to),
            "subject": subject[:998],
            "message_id": compose.new_message_id(self.sender),
            "meta": dict(item.get("meta") or {}),
        }

    def deliver(self, items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Send ``items`` (the channel message dicts) once each; answer one result per item.

        A message with an invalid address or header (CR/LF) fails alone, with the reason,
        and is never written to the outbox; the rest of the batch goes on. The database work
        is set-based: one transaction writes the outbox rows, skips suppressed addresses and
        claims the rest; one SMTP connection sends them; one transaction records the outcomes.
        """
        _ = self.sender  # no sender configured fails the whole batch at once, with the fix
        prepared: list[dict[str, Any] | None] = []
        invalid: dict[int, dict[str, Any]] = {}
        for index, item in enumerate(items):
            try:
                prepared.append(self._prepare(item))
            except ValidationError as exc:
                prepared.append(None)
                invalid[index] = {
                    "key": item.get("key"),
                    "contact_id": item.get("contact_id"),
                    "to": item.get("to"),
                    "status": "failed",
                    "message_id": None,
                    "code": None,
                    "subject": None,
                    "error": "; ".join(f"{e.field}: {e.message}" for e in exc.errors)
                    or exc.message,
                    "new": False,
                    "meta": dict(item.get("meta") or {}),
                }
        lease = timedelta(seconds=max(1.0, self.settings.send_lease_seconds))
        # one database connection for the whole chunk (claim, outcomes, activities' contacts):
        # no pool check-out (and its ping) per step
        with self.crm.engine.connect() as held:
            return self._deliver(held, items, prepared, invalid, lease)

    def _deliver(
        self,
        held: sa.Connection,
        items: Sequence[Mapping[str, Any]],
        prepared: list[dict[str, Any] | None],
        invalid: dict[int, dict[str, Any]],
        lease: timedelta,
    ) -> list[dict[str, Any]]:
        live = [p for p in prepared if p is not None]
        with _write(held) as conn:
            # The suppression list first, so new rows are written in their final state: a
            # suppressed address as `suppressed`, the rest as `sending` (claimed by this call).
            blocked = outbox.suppressed_among(conn, [p["to_address"] for p in live])
            for p in live:
                if p["to_address"] in blocked:
                    p.update(status="suppressed", error=SUPPRESSED_ERROR)
                else:
                    p.update(status="sending", attempts=1)
            rows, inserted = outbox.ensure_rows(conn, live)
            pairs = [
                (item, rows[(p["send_key"], p["contact_id"])])
                for item, p in zip(items, prepared, strict=True)
                if p is not None
            ]
            # rows that existed before: claim those waiting (or whose claim ran out)
            expired_before = utcnow() - lease
            wanted = [
                row
                for _, row in pairs
                if row["id"] not in inserted and outbox.claimable(row, expired_before)
            ]
            suppressed_now = [row["id"] for row in wanted if row["to_address"] in blocked]
            outbox.set_status(conn, suppressed_now, "suppressed", error=SUPPRESSED_ERROR)
            claimed = outbox.claim_many(
                conn,
                [row["id"] for row in wanted if row["to_address"] not in blocked],
                expired_before,
            )
            for _, row in pairs:  # the new rows: written claimed or suppressed above
                if row["id"] in inserted and row["status"] == "suppressed":
                    suppressed_now.append(row["id"])
                elif row["id"] in inserted:
                    claimed.add(row["id"])
        results: dict[int, dict[str, Any]] = {}
        for _item, row in pairs:
            if row["id"] in claimed:
                status = "claimed"
            elif row["id"] in suppressed_now:
                status = "suppressed"
            elif row["status"] in outbox.FINAL:
                status = row["status"]
            else:
                status = "in_progress"  # another process holds it (its lease is running)
            results[row["id"]] = {
                "key": row["send_key"],
                "contact_id": row["contact_id"],
                "to": row["to_address"],
                "status": status,
                "message_id": row["message_id"],
                "code": row["smtp_code"],
                "subject": row["subject"],
                "error": row["error"],
                "new": False,
                "meta": row["meta"] or {},
            }
            if row["id"] in suppressed_now:
                results[row["id"]]["error"] = "the address is suppressed"
        todo = [(item, row) for item, row in pairs if row["id"] in claimed]
        if todo:
            self._send_all(held, todo, results, lease.total_seconds())
        self._log_activities(held, [r for r in results.values() if r["new"]])
        ordered = iter(results[row["id"]] for _, row in pairs)
        return [invalid[i] if i in invalid else next(ordered) for i in range(len(items))]

    def _send_all(
        self,
        held: sa.Connection,
        todo: list[tuple[Mapping[str, Any], dict[str, Any]]],
        results: dict[int, dict[str, Any]],
        lease_seconds: float,
    ) -> None:
        """Send the claimed rows over one SMTP connection; record the outcomes set-based.

        Outcomes are written every ``RECORD_EVERY`` messages (what a crash can leave in doubt,
        and so resend with the same Message-ID, is at most that many per sending thread), and
        the claims on the rest are renewed every third of the lease (throttling, retries).
        """
        smtp = self._smtp()
        sender = self.sender
        envelope_from = compose.address_only(sender)
        outcomes: list[tuple[int, str, int | None, str | None]] = []
        bounced: list[tuple[str, int | None, str]] = []
        remaining = {row["id"] for _, row in todo}
        renewed = time.monotonic()

        def flush() -> None:
            nonlocal outcomes, bounced, renewed
            renew = time.monotonic() - renewed > lease_seconds / 3
            with _write(held):
                if held.dialect.name == "postgresql":
                    # The outcomes need not wait for the WAL flush: if the database server
                    # crashed and lost them, the rows would be `sending` again and resent after
                    # the lease with the Message-ID already recorded durably (the claim is
                    # committed synchronously before anything is sent), the same as after a
                    # worker crash. A commit per RECORD_EVERY messages is the send path's
                    # largest PostgreSQL cost otherwise.
                    held.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
                outbox.finish_many(held, outcomes)
                _insert_ignore(
                    held,
                    suppressions,
                    [
                        {
                            "address": address,
                            "reason": "bounce",
                            "smtp_code": code,
                            "detail": detail[:1000],
                            "created_at": utcnow(),
                        }
                        for address, code, detail in bounced
                    ],
                    "address",
                )
                if renew:
                    outbox.renew(held, sorted(remaining))
                    renewed = time.monotonic()
            outcomes, bounced = [], []

        try:
            for item, row in todo:
                result = results[row["id"]]
                remaining.discard(row["id"])
                try:
                    data = compose.build_bytes(
                        sender=sender,
                        to=row["to_address"],
                        subject=row["subject"],
                        text=str(item.get("text") or ""),
                        html=item.get("html"),
                        message_id=row["message_id"],
                        unsubscribe_url=item.get("unsubscribe_url"),
                        headers=item.get("headers"),
                    )
                except (ValidationError, ValueError, TypeError) as exc:
                    error = str(exc)[:1000]
                    outcomes.append((row["id"], "failed", None, error))
                    result.update(status="failed", error=error, new=True)
                    continue
                outcome = self._send_with_retries(smtp, envelope_from, row["to_address"], data)
                status = {"sent": "sent", "temporary": "deferred", "permanent": "failed"}[
                    outcome.kind
                ]
                error = None if outcome.kind == "sent" else outcome.detail or f"SMTP {outcome.code}"
                outcomes.append((row["id"], status, outcome.code, error))
                if outcome.kind == "permanent":
                    bounced.append((row["to_address"], outcome.code, outcome.detail or ""))
                result.update(status=status, code=outcome.code, error=error, new=True)
                if len(outcomes) >= RECORD_EVERY or time.monotonic() - renewed > lease_seconds / 3:
                    flush()
        except BaseException:
            smtp.close()  # the connection may be mid-transaction: never reuse it
            raise
        finally:
            smtp.last_used = time.monotonic()
            if outcomes or bounced:
                flush()

    def _send_with_retries(
        self, smtp: SmtpSender, envelope_from: str, to: str, data: bytes
    ) -> Outcome:
        attempts = max(0, self.settings.retry_attempts)
        outcome = Outcome("temporary", None, "not sent")
        for attempt in range(attempts + 1):
            self.throttle.acquire(compose.domain_of(to))
            outcome = smtp.send(envelope_from, to, data)
            if outcome.kind != "temporary":
                return outcome
            log.warning(
                "temporary SMTP failure for %s (attempt %s): %s %s",
                to,
                attempt + 1,
                outcome.code,
                outcome.detail,
            )
            if attempt < attempts:
                time.sleep(self.settings.retry_backoff_seconds * (2**attempt))
        return outcome

    def _smtp(self) -> SmtpSender:
        """This thread's SMTP connection, kept across chunks (a new one after an idle spell,
        which the server may have closed, or when the SMTP settings changed)."""
        cfg = parse_smtp_url(self.settings.smtp_url, self.settings.smtp_timeout_seconds)
        smtp: SmtpSender | None = getattr(self._local, "smtp", None)
        if smtp is not None and (
            smtp.config != cfg or time.monotonic() - smtp.last_used > SMTP_IDLE_SECONDS
        ):
            smtp.close()
            smtp = None
        if smtp is None:
            smtp = self._local.smtp = SmtpSender(cfg)
        return smtp

    def close(self) -> None:
        """Close this thread's SMTP connection (QUIT)."""
        smtp = getattr(self._local, "smtp", None)
        if smtp is not None:
            smtp.close()

    def _log_activities(self, held: sa.Connection, changed: list[dict[str, Any]]) -> None:
        wanted = [
            r for r in changed if r["contact_id"] is not None and r["status"] in ("sent", "failed")
        ]
        if not wanted:
            return
        with held.begin():
            present = set(
                held.execute(
                    sa.select(core_tables.contacts.c.id).where(
                        core_tables.contacts.c.id.in_({r["contact_id"] for r in wanted})
                    )
                ).scalars()
            )
        entries = []
        for r in wanted:
            if r["contact_id"] not in present:
                continue
            data = {
                **r["meta"],
                "message_id": r["message_id"],
                "to": r["to"],
                "subject": r["subject"],
                "direction": "outbound",
                "channel": "email",
            }
            if r["status"] == "sent":
                entries.append({"contact_id": r["contact_id"], "type": "email_sent", "data": data})
            else:
                data.update(code=r["code"], reason=(r["error"] or "")[:300], bounce="hard")
                entries.append(
                    {"contact_id": r["contact_id"], "type": "email_bounced", "data": data}
                )
        if entries:
            self.crm.activities.log_many(self.actor, entries)


def service(crm: CRM) -> EmailService:
    found = crm.extensions.get("email")
    if found is None:
        found = crm.extensions["email"] = EmailService(crm)
    return found  # type: ignore[no-any-return]
