"""Delivering a batch of messages: outbox rows first, then SMTP, one message at a time.

This runs inside a job (never in a request). For each message: insert-or-find its outbox
row, skip it when it was already handled, skip suppressed addresses, claim it, throttle,
send over one reused SMTP connection, retry 4xx/connection errors with backoff, and on 5xx
mark it failed and suppress the address. Activities (``email_sent``, ``email_bounced``) are
logged for the whole batch at the end with one ``log_many``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
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


class EmailService:
    """``crm.extensions["email"]``: delivery, suppression and the settings in force."""

    def __init__(self, crm: CRM) -> None:
        self.crm = crm
        self.settings: EmailSettings = load(crm)
        self.throttle = Throttle(self.settings.rate_limit, self.settings.domain_rate_limit)
        self.actor = Actor.system("email")

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
        and is never written to the outbox; the rest of the batch goes on.
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
        rows = outbox.ensure_rows(self.crm, [p for p in prepared if p is not None])
        pairs = [
            (item, rows[(p["send_key"], p["contact_id"])])
            for item, p in zip(items, prepared, strict=True)
            if p is not None
        ]
        outbox.mark_in_doubt(
            self.crm, [row["id"] for _, row in pairs if row["status"] == "sending"]
        )
        blocked = outbox.suppressed_among(
            self.crm, [row["to_address"] for _, row in pairs if row["status"] in outbox.RETRYABLE]
        )
        results: dict[int, dict[str, Any]] = {}
        for _item, row in pairs:
            status = "unknown" if row["status"] == "sending" else row["status"]
            if status in outbox.RETRYABLE and row["to_address"] in blocked:
                status = "suppressed"
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
        with self.crm.begin() as conn:
            outbox.set_status(
                conn,
                [
                    rid
                    for rid, r in results.items()
                    if r["status"] == "suppressed" and r["error"] is None
                ],
                "suppressed",
                error="the address is suppressed (an earlier bounce or complaint)",
            )
        todo = [
            (item, row) for item, row in pairs if results[row["id"]]["status"] in outbox.RETRYABLE
        ]
        if todo:
            self._send_all(todo, results)
        self._log_activities(
            [r for r in results.values() if r["new"]], {row["id"]: item for item, row in pairs}
        )
        ordered = iter(results[row["id"]] for _, row in pairs)
        return [invalid[i] if i in invalid else next(ordered) for i in range(len(items))]

    def _send_all(
        self,
        todo: list[tuple[Mapping[str, Any], dict[str, Any]]],
        results: dict[int, dict[str, Any]],
    ) -> None:
        cfg = parse_smtp_url(self.settings.smtp_url, self.settings.smtp_timeout_seconds)
        smtp = SmtpSender(cfg)
        # The outcome of message i is committed together with the claim of message i+1: one
        # commit per message, and a row is never 'sending' unless its SMTP transaction is
        # under way (or the process died during it: then it is in doubt, never resent).
        unrecorded: tuple[int, str, int | None, str | None] | None = None
        try:
            for item, row in todo:
                result = results[row["id"]]
                try:
                    data = compose.build(
                        sender=self.sender,
                        to=row["to_address"],
                        subject=row["subject"],
                        text=str(item.get("text") or ""),
                        html=item.get("html"),
                        message_id=row["message_id"],
                        unsubscribe_url=item.get("unsubscribe_url"),
                        headers=item.get("headers"),
                    ).as_bytes()
                except (ValidationError, ValueError, TypeError) as exc:
                    with self.crm.begin() as conn:
                        outbox.finish(conn, row["id"], "failed", None, str(exc)[:1000])
                    result.update(status="failed", error=str(exc)[:1000], new=True)
                    continue
                with self.crm.begin() as conn:
                    if unrecorded is not None:
                        outbox.finish(conn, *unrecorded)
                        unrecorded = None
                    claimed = outbox.claim(conn, row["id"])
                if not claimed:
                    result["status"] = "in_progress"  # another process is sending it now
                    continue
                outcome = self._send_with_retries(smtp, row["to_address"], data)
                status = {"sent": "sent", "temporary": "deferred", "permanent": "failed"}[
                    outcome.kind
                ]
                error = None if outcome.kind == "sent" else outcome.detail or f"SMTP {outcome.code}"
                unrecorded = (row["id"], status, outcome.code, error)
                if outcome.kind == "permanent":
                    self.suppress(
                        [row["to_address"]], "bounce", code=outcome.code, detail=outcome.detail
                    )
                result.update(status=status, code=outcome.code, error=error, new=True)
        finally:
            if unrecorded is not None:
                with self.crm.begin() as conn:
                    outbox.finish(conn, *unrecorded)
            smtp.close()

    def _send_with_retries(self, smtp: SmtpSender, to: str, data: bytes) -> Outcome:
        attempts = max(0, self.settings.retry_attempts)
        outcome = Outcome("temporary", None, "not sent")
        for attempt in range(attempts + 1):
            self.throttle.acquire(compose.domain_of(to))
            outcome = smtp.send(compose.address_only(self.sender), to, data)
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

    def _log_activities(
        self, changed: list[dict[str, Any]], items: Mapping[int, Mapping[str, Any]]
    ) -> None:
        wanted = [
            r for r in changed if r["contact_id"] is not None and r["status"] in ("sent", "failed")
        ]
        if not wanted:
            return
        with self.crm.connect() as conn:
            present = set(
                conn.execute(
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
