"""``GET /api/plugins``: what is installed and its status (admins)."""

from __future__ import annotations

from typing import Any

from litestar import get

from cultiveat_core.crm import CRM
from cultiveat_core.domain import Actor


@get("/api/plugins", sync_to_thread=False, tags=["system"])
def list_plugins(crm: CRM, actor: Actor) -> list[dict[str, Any]]:
    """Every plugin: name, distribution, version, hooks implemented, status and error."""
    crm.permissions.require(actor, "plugins.read")
    return crm.plugins_report()
