"""Validating import rows quickly: the usual cells checked with precompiled rules.

``RowCleaner.fast`` gives exactly what ``ContactService.clean(partial=False)`` gives for a
row made of the plain fields (email, names, phone, the text fields, company size, tags, a
known owner) when every check passes, and ``None`` for anything else (a failing check, an
address, social links, custom fields, an owner not seen yet): the caller then runs the full
``clean``, which produces the values or the messages. No SQL, no per-row events.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from cultiveat_core.services.contacts import CHOICES, DEFAULT_STAGE, TEXT_FIELDS
from cultiveat_core.services.custom_fields import CustomField
from cultiveat_core.services.validation import NAME_MAX, TAG_MAX, normalise_email, normalise_phone

PLAIN_FIELDS = frozenset(
    {"email", "first_name", "last_name", "phone", "company_size", "tags", "owner", *TEXT_FIELDS}
)
CANONICAL = {name: {k.lower(): k for k in known} for name, known in CHOICES.items()}
# +1 and a ten-digit NANP number whose area code starts with 2-9: E.164 is "+1" and the
# digits (phonenumbers calls every such number possible and strips no national prefix)
NANP = re.compile(r"\+1[ .-]?\(?([2-9]\d\d)\)?[ .-]?(\d{3})[ .-]?(\d{4})")
_FAIL = object()


def fast_phone(text: str) -> str | None:
    """E.164 of a common NANP number without calling phonenumbers; None when not that shape."""
    match = NANP.fullmatch(text.strip())
    return "+1" + "".join(match.groups()) if match else None


def _text(value: Any, limit: int) -> Any:
    """``clean_text`` without the error list: the text, None, or ``_FAIL``."""
    if value is None:
        return None
    if not isinstance(value, str):
        return _FAIL
    text = value.replace("\x00", "").strip() if "\x00" in value else value.strip()
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    if len(text) > limit:
        return _FAIL
    return text or None


class RowCleaner:
    def __init__(
        self, definitions: Mapping[str, CustomField], owners: dict[Any, int | None]
    ) -> None:
        # a required custom field makes every row without it an error: the full path says so
        self.enabled = not any(field.required for field in definitions.values())
        self.owners = owners  # owner as given -> user id, filled by the full clean

    def fast(self, data: Mapping[str, Any]) -> dict[str, Any] | None:
        if not self.enabled or not data.keys() <= PLAIN_FIELDS:
            return None
        try:
            email, key = normalise_email(data.get("email"))
        except ValueError:
            return None
        values: dict[str, Any] = {"email": email, "email_key": key}
        for name in ("first_name", "last_name"):
            text = _text(data.get(name), NAME_MAX)
            if text is None or text is _FAIL:
                return None
            values[name] = text
        for name, limit in TEXT_FIELDS.items():
            if name in data:
                text = _text(data[name], limit)
                if text is _FAIL:
                    return None
                values[name] = text
        for name, canonical in CANONICAL.items():
            given = values.get(name)
            if given:
                known = canonical.get(given.lower())
                if known is not None:
                    values[name] = known
                elif name == "stage":
                    return None
        if not values.get("stage"):
            values["stage"] = DEFAULT_STAGE
        if "company_size" in data:
            size = data["company_size"]
            if size in (None, ""):
                values["company_size"] = None
            else:
                if isinstance(size, bool) or not isinstance(size, int | str):
                    return None
                digits = str(size).strip().replace(",", "")
                if not digits.isdigit():
                    return None
                values["company_size"] = int(digits)
        if "owner" in data:
            owner = data["owner"]
            if not isinstance(owner, int | str) or owner not in self.owners:
                return None
            values["owner_id"] = self.owners[owner]
        phone = data.get("phone")
        if phone not in (None, ""):
            if not isinstance(phone, str):
                return None
            e164 = fast_phone(phone) if len(phone) <= 40 else None
            if e164 is None:
                try:
                    e164 = normalise_phone(phone, None)
                except ValueError:
                    return None
            values["phone"] = e164
        elif "phone" in data:
            values["phone"] = None
        if "tags" in data:
            given = data["tags"]
            if not isinstance(given, list):
                return None
            tags: dict[str, str] = {}
            for item in given:  # clean_tags on a list, for tags that pass
                if not isinstance(item, str):
                    return None
                text = " ".join(item.replace("\x00", "").split())
                if not text or len(text) > TAG_MAX or not text.isprintable():
                    return None
                tags.setdefault(text.lower(), text)
            values["tags"] = list(tags.values())
        return values
