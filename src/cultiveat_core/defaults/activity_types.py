"""The core's activity types; their names are a contract other plugins rely on."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from cultiveat_core.domain import ActivityType
from cultiveat_core.errors import FieldError, ValidationError
from cultiveat_core.markers import hookimpl

CALL_PURPOSES = ("Discovery", "Product Demo", "Follow-up", "Negotiation", "Customer Support", "Closing")
CALL_STATUSES = ("Completed", "No Answer", "Busy", "Voicemail", "Rescheduled")
NOTE_TYPES = ("Sales", "Call", "General", "Marketing", "Support", "Technical")
CALL_NOTES_MAX = 1000
NOTE_MAX = 2000


def _choice(data: dict[str, Any], key: str, choices: tuple[str, ...], errors: list[FieldError],
            *, required: bool) -> None:
    value = data.get(key)
    if value in (None, ""):
        if required:
            errors.append(FieldError(f"data.{key}", f"{key} is required; one of: {', '.join(choices)}"))
        return
    by_lower = {c.lower(): c for c in choices}
    text = str(value).strip()
    # accept "Discovery Call", "Follow-up Call" as seed 003 writes them
    key_text = text.lower().removesuffix(" call")
    if key_text in by_lower:
        data[key] = by_lower[key_text]
    elif text.lower() in by_lower:
        data[key] = by_lower[text.lower()]
    else:
        errors.append(FieldError(f"data.{key}", f"{text!r} is not one of: {', '.join(choices)}"))


def _text(data: dict[str, Any], key: str, limit: int, errors: list[FieldError], *, required: bool) -> None:
    value = data.get(key)
    if value in (None, ""):
        if required:
            errors.append(FieldError(f"data.{key}", f"{key} is required"))
        return
    if not isinstance(value, str):
        errors.append(FieldError(f"data.{key}", "must be text"))
        return
    text = value.replace("\x00", "").strip()
    if len(text) > limit:
        errors.append(FieldError(f"data.{key}", f"must be at most {limit} characters (got {len(text)})"))
    data[key] = text


def validate_call(data: dict[str, Any]) -> dict[str, Any]:
    errors: list[FieldError] = []
    _choice(data, "purpose", CALL_PURPOSES, errors, required=True)
    _choice(data, "status", CALL_STATUSES, errors, required=True)
    _text(data, "notes", CALL_NOTES_MAX, errors, required=False)
    if "duration_minutes" in data and data["duration_minutes"] is not None:
        try:
            minutes = float(data["duration_minutes"])
            if minutes < 0:
                raise ValueError
            data["duration_minutes"] = minutes
        except (TypeError, ValueError):
            errors.append(FieldError("data.duration_minutes", "must be a non-negative number of minutes"))
    if data.get("direction") not in (None, "inbound", "outbound"):
        errors.append(FieldError("data.direction", "must be inbound or outbound"))
    if errors:
        raise ValidationError(errors)
    return data


def validate_note(data: dict[str, Any]) -> dict[str, Any]:
    errors: list[FieldError] = []
    _text(data, "text", NOTE_MAX, errors, required=True)
    if data.get("note_type") in (None, ""):
        data["note_type"] = "General"
    _choice(data, "note_type", NOTE_TYPES, errors, required=True)
    if errors:
        raise ValidationError(errors)
    return data


def validate_page_visit(data: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(data.get("url"), str) or not data["url"].strip():
        raise ValidationError.field("data.url", "url of the visited page is required")
    return data


def validate_purchase(data: dict[str, Any]) -> dict[str, Any]:
    errors: list[FieldError] = []
    try:
        amount = Decimal(str(data.get("amount")))
        if amount.is_nan() or amount < 0:
            raise InvalidOperation
        data["amount"] = float(amount)
    except (InvalidOperation, ValueError):
        errors.append(FieldError("data.amount", "amount is required: a non-negative number"))
    currency = str(data.get("currency") or "").upper()
    if len(currency) != 3 or not currency.isalpha():
        errors.append(FieldError("data.currency", "currency is required: a 3-letter ISO code such as USD"))
    data["currency"] = currency
    lines = data.get("lines", [])
    if not isinstance(lines, list):
        errors.append(FieldError("data.lines", "must be a list of {product, quantity, price}"))
    if errors:
        raise ValidationError(errors)
    return data


CORE_ACTIVITY_TYPES = [
    ActivityType("email_sent", "Email sent", category="email"),
    ActivityType("email_delivered", "Email delivered", category="email"),
    ActivityType("email_opened", "Email opened", category="email"),
    ActivityType("email_clicked", "Email link clicked", category="email"),
    ActivityType("email_bounced", "Email bounced", category="email"),
    ActivityType("email_replied", "Email replied", category="email"),
    ActivityType("unsubscribed", "Unsubscribed", category="email"),
    ActivityType("subscribed", "Subscribed", category="marketing"),
    ActivityType("call", "Call", category="call", validate=validate_call),
    ActivityType("note", "Note", category="note", validate=validate_note),
    ActivityType("meeting", "Meeting", category="meeting"),
    ActivityType("follow_up", "Follow-up", category="task"),
    ActivityType("page_visit", "Page visit", category="web", validate=validate_page_visit),
    ActivityType("form_submitted", "Form submitted", category="web"),
    ActivityType("webinar_attended", "Webinar attended", category="marketing"),
    ActivityType("demo_requested", "Demo requested", category="sales"),
    ActivityType("pricing_requested", "Pricing requested", category="sales"),
    ActivityType("demo_scheduled", "Demo scheduled", category="sales"),
    ActivityType("content_downloaded", "Content downloaded", category="marketing"),
    ActivityType("purchase", "Purchase", category="sales", validate=validate_purchase),
]


@hookimpl(trylast=True)
def register_activity_types() -> list[ActivityType]:
    return list(CORE_ACTIVITY_TYPES)
