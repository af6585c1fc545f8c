"""The channels registered through ``register_channels``, by name."""

from __future__ import annotations

from typing import Any

from cultiveat_core import CRM, ValidationError


def channels(crm: CRM) -> dict[str, Any]:
    return {c.name: c for c in crm.registry.extra(crm, "register_channels")}  # noqa: S610


def channel(crm: CRM, name: str) -> Any:
    found = channels(crm)
    if name not in found:
        known = ", ".join(sorted(found)) or "none: install a channel plugin such as cultiveat-email"
        raise ValidationError.field("channel", f"no channel named {name!r}; available: {known}")
    return found[name]
