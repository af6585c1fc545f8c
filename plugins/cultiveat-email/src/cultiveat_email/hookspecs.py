"""Hooks the email plugin declares (exposed as ``cultiveat_email.plugin.hookspecs``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cultiveat_core import hookspec

if TYPE_CHECKING:
    from cultiveat_core import CRM


@hookspec
def register_esp_adapters(crm: CRM) -> list[Any]:
    """``EspAdapter`` objects (``name``, ``verify``, ``parse``): ``/email/webhooks/esp/{name}``."""
