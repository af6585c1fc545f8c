"""The ``hello_waved`` activity type: someone waved at a contact, with an optional message."""

from __future__ import annotations

from typing import Any

from cultiveat_core import ActivityType, ValidationError

MESSAGE_MAX = 200


def validate_wave(data: dict[str, Any]) -> dict[str, Any]:
    message = data.get("message", "")
    if not isinstance(message, str):
        raise ValidationError.field("data.message", "must be text, e.g. \"Nice to meet you\"")
    message = message.strip()
    if len(message) > MESSAGE_MAX:
        raise ValidationError.field(
            "data.message", f"must be at most {MESSAGE_MAX} characters (got {len(message)})"
        )
    unknown = sorted(set(data) - {"message"})
    if unknown:
        raise ValidationError.field(
            f"data.{unknown[0]}", "unknown field; hello_waved takes only message"
        )
    return {"message": message}


HELLO_WAVED = ActivityType(
    "hello_waved",
    "Waved hello",
    description="Someone waved at the contact (example plugin `hello`).",
    category="other",
    validate=validate_wave,
)
