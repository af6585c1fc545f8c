"""Building the MIME message: checked headers, Message-ID, one-click unsubscribe headers.

Every header value is checked for CR/LF before it is set, so header injection is impossible
whatever a template or a contact field contains.
"""

from __future__ import annotations

import uuid
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, parseaddr
from functools import lru_cache
from typing import Any

from email_validator import EmailNotValidError, validate_email

from cultiveat_core.errors import ValidationError

FORBIDDEN = ("\r", "\n", "\x00")


def check_header(name: str, value: str) -> str:
    """Reject CR, LF and NUL in a header value (header injection), with a clear message."""
    if not isinstance(value, str):
        raise ValidationError.field(name, "must be text")
    if any(ch in value for ch in FORBIDDEN):
        raise ValidationError.field(
            name, f"the {name} header must not contain line breaks (CR/LF); remove them and retry"
        )
    return value


@lru_cache(maxsize=8192)
def _address_problem(address: str) -> str | None:
    """Why ``address`` is not a valid address, or None (cached: every message is checked twice)."""
    try:
        validate_email(
            address, check_deliverability=False, globally_deliverable=False, test_environment=True
        )
    except EmailNotValidError as exc:
        return str(exc)
    return None


def check_address(field: str, value: str) -> str:
    check_header(field, value)
    problem = _address_problem(parseaddr(value)[1])
    if problem is not None:
        raise ValidationError.field(field, f"{value!r} is not a valid email address: {problem}")
    return value


def new_message_id(sender: str) -> str:
    domain = parseaddr(sender)[1].rpartition("@")[2] or "cultiveat.localhost"
    return f"<{uuid.uuid4().hex}@{domain}>"


def domain_of(address: str) -> str:
    return parseaddr(address)[1].rpartition("@")[2].lower()


def build(
    *,
    sender: str,
    to: str,
    subject: str,
    text: str,
    html: str | None,
    message_id: str,
    unsubscribe_url: str | None = None,
    headers: dict[str, Any] | None = None,
) -> EmailMessage:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = check_address("from", sender)
    msg["To"] = check_address("to", to)
    msg["Subject"] = check_header("subject", subject)
    msg["Message-ID"] = check_header("message_id", message_id)
    msg["Date"] = formatdate(usegmt=True)
    if unsubscribe_url:
        # RFC 8058 one-click: mail clients POST "List-Unsubscribe=One-Click" to the URL.
        msg["List-Unsubscribe"] = f"<{check_header('unsubscribe_url', unsubscribe_url)}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    for name, value in (headers or {}).items():
        msg[check_header("header name", str(name))] = check_header(f"header {name}", str(value))
    msg.set_content(text or "", cte="quoted-printable")
    if html:
        msg.add_alternative(html, subtype="html", cte="quoted-printable")
    return msg


def address_only(value: str) -> str:
    return Address(addr_spec=parseaddr(value)[1]).addr_spec.lower()
