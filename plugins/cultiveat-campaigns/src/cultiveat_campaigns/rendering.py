"""Rendering user-written templates safely: Jinja2's ImmutableSandboxedEnvironment.

The seed writes merge fields as ``{first_name}``; they become ``{{ first_name }}`` before
Jinja2 compiles the template, so both syntaxes (and Jinja2 conditions and loops) work. HTML
bodies autoescape; a template touching Python internals raises :class:`TemplateSecurityError`.
Empty merge values fall back to the template's per-field fallback text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import attrs
from jinja2 import TemplateSyntaxError, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from cultiveat_core import ValidationError

MERGE_FIELDS = (
    "first_name",
    "last_name",
    "full_name",
    "company_name",
    "position",
    "email",
    "sender_email",
    "unsubscribe_url",
)
SEED_FIELD = re.compile(r"(?<!\{)\{\s*(" + "|".join(MERGE_FIELDS) + r")\s*\}(?!\})")


class TemplateSecurityError(ValidationError):
    """A template tried to reach something the sandbox forbids (attributes, mutation)."""


class StrictSandbox(ImmutableSandboxedEnvironment):
    """Touching an unsafe attribute raises at once (Jinja2 would render it as empty text)."""

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        raise SecurityError(
            f"access to attribute {attribute!r} of a {type(obj).__name__!r} object is unsafe"
        )


HTML_ENV = StrictSandbox(autoescape=True)
TEXT_ENV = StrictSandbox(autoescape=False)


def to_jinja(source: str) -> str:
    return SEED_FIELD.sub(lambda m: "{{ " + m.group(1) + " }}", source)


@lru_cache(maxsize=512)
def _compile(source: str, html: bool) -> Any:
    return (HTML_ENV if html else TEXT_ENV).from_string(to_jinja(source))


def check_syntax(field: str, source: str) -> None:
    try:
        _compile(source, field == "body_html")
    except TemplateSyntaxError as exc:
        raise ValidationError.field(
            field, f"template syntax error on line {exc.lineno}: {exc.message}"
        ) from None


def fields_used(*sources: str) -> set[str]:
    used: set[str] = set()
    for source in sources:
        used |= _fields_of(source)
    return used


@lru_cache(maxsize=512)
def _fields_of(source: str) -> frozenset[str]:
    """Merge fields one source uses (cached: a campaign renders the same template many times)."""
    try:
        found = meta.find_undeclared_variables(HTML_ENV.parse(to_jinja(source)))
    except TemplateSyntaxError:
        return frozenset()
    return frozenset(found & set(MERGE_FIELDS))


@attrs.frozen
class Rendered:
    subject: str
    html: str
    text: str
    empty_fields: tuple[str, ...]


def merge_values(
    contact: Mapping[str, Any], fallbacks: Mapping[str, str], extra: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    first, last = contact.get("first_name") or "", contact.get("last_name") or ""
    values = {
        "first_name": first,
        "last_name": last,
        "full_name": f"{first} {last}".strip(),
        "company_name": contact.get("company") or "",
        "position": contact.get("position") or "",
        "email": contact.get("email") or "",
        **extra,
    }
    empty = [k for k in MERGE_FIELDS if k in values and not values[k]]
    for key in empty:
        if fallbacks.get(key):
            values[key] = fallbacks[key]
    values["contact"] = dict(values)
    return values, empty


def render(
    template: Mapping[str, Any], contact: Mapping[str, Any], extra: Mapping[str, Any] | None = None
) -> Rendered:
    values, empty = merge_values(contact, template.get("fallbacks") or {}, extra or {})
    used = fields_used(template["subject"], template["body_html"], template["body_text"])
    try:
        subject = _compile(template["subject"], False).render(values)
        html = _compile(template["body_html"], True).render(values) if template["body_html"] else ""
        text = (
            _compile(template["body_text"], False).render(values) if template["body_text"] else ""
        )
    except SecurityError as exc:
        raise TemplateSecurityError.field(
            "template",
            f"the template tried something the sandbox forbids ({exc}); "
            "use only merge fields, conditions and loops",
        ) from None
    except TemplateSyntaxError as exc:
        raise ValidationError.field("template", f"template syntax error: {exc.message}") from None
    except Exception as exc:  # a user template failing at render time is the template's problem
        raise ValidationError.field("template", f"the template failed to render: {exc}") from None
    # a merge value never turns the subject into two header lines
    subject = " ".join(subject.split())
    return Rendered(
        subject=subject, html=html, text=text, empty_fields=tuple(f for f in empty if f in used)
    )
