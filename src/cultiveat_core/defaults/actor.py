"""Default ``actor_from_request``: an ``Authorization: Bearer <token>`` API token."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cultiveat_core.markers import hookimpl

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM
    from cultiveat_core.domain import Actor


@hookimpl(trylast=True)
def actor_from_request(crm: CRM, request: Any) -> Actor | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return crm.tokens.authenticate(token.strip())
