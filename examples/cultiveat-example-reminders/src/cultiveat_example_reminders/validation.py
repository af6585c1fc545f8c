"""Checking what a client sends before anything is written; every error says what to fix."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from cultiveat_core import FieldError, ValidationError

FIELDS = ("due_at", "note")
NOTE_MAX = 500
EXAMPLE = "2030-01-15T09:00:00Z"


def parse_due_at(value: Any, errors: list[FieldError]) -> datetime | None:
    if value in (None, ""):
        message = f"due_at is required: an ISO 8601 time such as {EXAMPLE}"
        errors.append(FieldError("due_at", message))
        return None
    if not isinstance(value, str):
        errors.append(FieldError("due_at", f"must be an ISO 8601 time string such as {EXAMPLE}"))
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        message = f"{value!r} is not an ISO 8601 time; write it like {EXAMPLE}"
        errors.append(FieldError("due_at", message))
        return None
    # a time without an offset is taken as UTC
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def clean_note(value: Any, errors: list[FieldError]) -> str | None:
    if not isinstance(value, str) or not value.strip():
        message = f"note is required: what to remember (at most {NOTE_MAX} characters)"
        errors.append(FieldError("note", message))
        return None
    note = value.replace("\x00", "").strip()
    if len(note) > NOTE_MAX:
        message = f"must be at most {NOTE_MAX} characters (got {len(note)})"
        errors.append(FieldError("note", message))
        return None
    return note


def clean_reminder(data: Any) -> dict[str, Any]:
    """``{"due_at", "note"}`` checked and normalised, or a ValidationError listing every problem."""
    if not isinstance(data, Mapping):
        raise ValidationError.field(
            "body", 'must be a JSON object like {"due_at": "...", "note": "..."}'
        )
    errors = [
        FieldError(name, f"unknown field; send only {', '.join(FIELDS)}")
        for name in sorted(set(data) - set(FIELDS))
    ]
    due_at = parse_due_at(data.get("due_at"), errors)
    note = clean_note(data.get("note"), errors)
    if errors:
        raise ValidationError(errors)
    return {"due_at": due_at, "note": note}
