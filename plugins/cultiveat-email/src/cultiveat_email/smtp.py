"""SMTP: the connection settings from ``CULTIVEAT_EMAIL_SMTP_URL`` and a reusable sender.

``SmtpSender.send`` answers an :class:`Outcome` instead of raising, so the delivery loop can
decide per message: ``sent``, ``temporary`` (4xx or a broken connection: retry later) or
``permanent`` (5xx: suppress the address, never retry).

When the server advertises ``PIPELINING`` (RFC 2920; Postfix, Exim and most MTAs do),
``MAIL FROM``, ``RCPT TO`` and ``DATA`` go out in one write and their three replies are read
together: two round trips per message (envelope, then content) instead of four. The outcome
of each reply is judged as in the sequential exchange; ``?pipelining=0`` in the URL turns it
off.
"""

from __future__ import annotations

import re
import smtplib
import ssl
import time
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
    pipelining: bool = True  # used when the server advertises it


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
        pipelining=query.get("pipelining", "1").lower() in TRUE,
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


LEADING_DOT = re.compile(rb"(?m)^\.")


def dot_stuffed(data: bytes) -> bytes:
    """The DATA payload: lines starting with a dot doubled, CRLF-terminated, then the end mark."""
    data = LEADING_DOT.sub(b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


class SmtpSender:
    """One SMTP connection reused for many messages (reconnects after an error)."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._conn: smtplib.SMTP | None = None
        self.pipelining = False  # the current connection's server advertised PIPELINING
        self.last_used = time.monotonic()

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
        conn.ehlo_or_helo_if_needed()
        self.pipelining = cfg.pipelining and conn.has_extn("pipelining")
        return conn

    def connection(self) -> smtplib.SMTP:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def send(self, sender: str, recipient: str, data: bytes) -> Outcome:
        try:
            conn = self.connection()
            if self.pipelining and sender.isascii() and recipient.isascii():
                return self._send_pipelined(conn, sender, recipient, data)
            refused = conn.sendmail(sender, [recipient], data)
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

    def _send_pipelined(
        self, conn: smtplib.SMTP, sender: str, recipient: str, data: bytes
    ) -> Outcome:
        """MAIL, RCPT and DATA in one write (RFC 2920), their replies read in order; then the
        content and its reply. Connection errors propagate to :meth:`send`."""
        size = f" SIZE={len(data)}" if conn.has_extn("size") else ""
        conn.send(f"MAIL FROM:<{sender}>{size}\r\nRCPT TO:<{recipient}>\r\nDATA\r\n".encode())
        mail_code, mail_text = conn.getreply()
        rcpt_code, rcpt_text = conn.getreply()
        data_code, data_text = conn.getreply()
        if data_code == 354 and mail_code == 250 and rcpt_code in (250, 251):
            conn.send(dot_stuffed(data))
            code, text = conn.getreply()
            if code == 250:
                return Outcome("sent", 250)
            return classify(code, text)
        if data_code == 354:
            # DATA accepted although the envelope was refused (RFC 2920 says a server must not):
            # the transaction cannot be ended cleanly without sending a message, so drop the
            # connection; nothing was delivered
            conn.close()
            self._conn = None
        else:
            self._reset(conn)
        if mail_code != 250:
            # The sender address is the problem (configuration), never the recipient's.
            self.close()
            return Outcome("temporary", mail_code, f"sender refused: {mail_text!r}"[:900])
        if rcpt_code not in (250, 251):
            return classify(rcpt_code, rcpt_text)
        return classify(data_code, data_text)

    def _reset(self, conn: smtplib.SMTP) -> None:
        try:
            conn.rset()
        except (smtplib.SMTPException, OSError):
            self.close()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            conn.close()
