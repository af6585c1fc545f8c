"""SMTP: the connection settings from ``CULTIVEAT_EMAIL_SMTP_URL`` and a reusable sender.

``SmtpSender.send`` answers an :class:`Outcome` instead of raising, so the delivery loop can
decide per message: ``sent``, ``temporary`` (4xx or a broken connection: retry later) or
``permanent`` (5xx: suppress the address, never retry).
"""

from __future__ import annotations

import smtplib
import ssl
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

import attrs

from cultiveat_core.errors import ConfigurationError

TRUE = {"1", "true", "yes", "on"}


@attrs.frozen
class SmtpConfig:
    host: str
    port: int
    username: str | None = None
    password: str | None = attrs.field(default=None, repr=False)
    ssl: bool = False  # implicit TLS (smtps://)
    starttls: bool = False
    timeout: float = 30.0


def parse_smtp_url(url: str, timeout: float = 30.0) -> SmtpConfig:
    """``smtp://user:pass@host:587?starttls=1`` or ``smtps://host:465`` -> :class:`SmtpConfig`."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ConfigurationError(
            "CULTIVEAT_EMAIL_SMTP_URL must start with smtp:// or smtps:// "
            f"(got {parts.scheme or 'nothing'!r}), "
            "e.g. smtp://user:pass@mail.example.com:587?starttls=1"
        )
    if not parts.hostname:
        raise ConfigurationError(
            "CULTIVEAT_EMAIL_SMTP_URL has no host, e.g. smtp://mail.example.com:587"
        )
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    implicit = parts.scheme == "smtps"
    return SmtpConfig(
        host=parts.hostname,
        port=parts.port or (465 if implicit else 25),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        ssl=implicit,
        starttls=query.get("starttls", "0").lower() in TRUE,
        timeout=float(query.get("timeout", timeout)),
    )


@attrs.frozen
class Outcome:
    kind: Literal["sent", "temporary", "permanent"]
    code: int | None = None
    detail: str = ""


def classify(code: int | None, detail: bytes | str) -> Outcome:
    text = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
    if code is not None and 500 <= code < 600:
        return Outcome("permanent", code, text[:900])
    return Outcome("temporary", code, text[:900])


class SmtpSender:
    """One SMTP connection reused for many messages (reconnects after an error)."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._conn: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        cfg = self.config
        conn: smtplib.SMTP
        if cfg.ssl:
            conn = smtplib.SMTP_SSL(
                cfg.host, cfg.port, timeout=cfg.timeout, context=ssl.create_default_context()
            )
        else:
            conn = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
            if cfg.starttls:
                conn.starttls(context=ssl.create_default_context())
        if cfg.username:
            conn.login(cfg.username, cfg.password or "")
        return conn

    def connection(self) -> smtplib.SMTP:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def send(self, sender: str, recipient: str, data: bytes) -> Outcome:
        try:
            refused = self.connection().sendmail(sender, [recipient], data)
        except smtplib.SMTPRecipientsRefused as exc:
            code, detail = exc.recipients.get(recipient, (None, b"recipient refused"))
            return classify(code, detail)
        except smtplib.SMTPSenderRefused as exc:
            # The sender address is the problem (configuration), never the recipient's.
            self.close()
            return Outcome("temporary", exc.smtp_code, f"sender refused: {exc.smtp_error!r}"[:900])
        except smtplib.SMTPResponseException as exc:
            return classify(exc.smtp_code, exc.smtp_error)
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            return Outcome("temporary", None, f"connection error: {exc}"[:900])
        if refused:
            code, detail = refused[recipient]
            return classify(code, detail)
        return Outcome("sent", 250)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            conn.close()
