"""Normalising and checking contact input; every message says what to fix."""

from __future__ import annotations

import unicodedata
from typing import Any

from email_validator import EmailNotValidError, validate_email

from cultiveat_core.errors import FieldError

NAME_MAX = 100


def clean_text(value: Any, field: str, max_length: int, errors: list[FieldError]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors.append(FieldError(field, "must be text"))
        return None
    text = value.replace("\x00", "").strip()
    text = unicodedata.normalize("NFC", text)
    if len(text) > max_length:
        errors.append(FieldError(field, f"must be at most {max_length} characters (got {len(text)})"))
        return None
    return text or None


def normalise_email(value: Any) -> tuple[str, str]:
    """Return (display form, dedupe key) or raise ValueError with a message saying what to fix.

    The key lower-cases the whole address, converts an internationalised domain to punycode
    and trims whitespace, so ``Ann@Example.COM `` and ``ann@example.com`` are one contact.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError("email is required")
    text = value.strip().replace("\x00", "")
    try:
        result = validate_email(text, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise ValueError(f"{text!r} is not a valid email address: {exc}") from None
    domain = result.ascii_domain or result.domain
    display = f"{result.local_part}@{result.domain}"
    key = f"{result.local_part.lower()}@{domain.lower()}"
    return display, key


def require_name(value: Any, field: str, errors: list[FieldError]) -> str | None:
    text = clean_text(value, field, NAME_MAX, errors)
    if text is None and not any(e.field == field for e in errors):
        errors.append(FieldError(field, f"{field.replace('_', ' ')} is required"))
    return text
