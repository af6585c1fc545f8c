"""Polling an IMAP mailbox for replies and bounces (``CULTIVEAT_EMAIL_IMAP_URL``)."""

from __future__ import annotations

import contextlib
import imaplib
from typing import Any
from urllib.parse import unquote, urlsplit

from cultiveat_core import CRM
from cultiveat_core.errors import ConfigurationError
from cultiveat_email import inbound
from cultiveat_email.settings import load


def _open(url: str) -> tuple[imaplib.IMAP4, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("imap", "imaps") or not parts.hostname:
        raise ConfigurationError(
            "CULTIVEAT_EMAIL_IMAP_URL must look like imaps://user:pass@host:993/INBOX"
        )
    if parts.scheme == "imaps":
        conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(parts.hostname, parts.port or 993)
    else:
        conn = imaplib.IMAP4(parts.hostname, parts.port or 143)
    if parts.username:
        conn.login(unquote(parts.username), unquote(parts.password or ""))
    return conn, unquote(parts.path.lstrip("/")) or "INBOX"


def poll(crm: CRM, limit: int = 200) -> dict[str, Any]:
    """Process unseen messages (at most ``limit``) and flag each as seen once handled."""
    url = load(crm).imap_url
    if not url:
        return {"skipped": "CULTIVEAT_EMAIL_IMAP_URL is not set"}
    conn, mailbox = _open(url)
    kinds: dict[str, int] = {}
    try:
        conn.select(mailbox)
        _, found = conn.search(None, "UNSEEN")
        for number in (found[0] or b"").split()[:limit]:
            _, fetched = conn.fetch(number, "(BODY.PEEK[])")
            raw = next((part[1] for part in fetched if isinstance(part, tuple)), None)
            if raw is None:
                continue
            result = inbound.process(crm, bytes(raw))
            kinds[result["kind"]] = kinds.get(result["kind"], 0) + 1
            conn.store(number, "+FLAGS", "\\Seen")
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            conn.logout()
    return kinds
