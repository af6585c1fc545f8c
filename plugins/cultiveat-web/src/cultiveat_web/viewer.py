"""Who is looking at a page: the actor, their session's CSRF token and their theme.

Pages resolve the actor through the core's ``actor_from_request`` hook (a bearer token
first, then the session cookie), so the UI sees exactly what the API would let the same
person see. State-changing requests authenticated by the session cookie must carry the
session's CSRF token; requests authenticated by a bearer token cannot be forged by another
site and need none.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

import attrs

from cultiveat_core.domain import Actor
from cultiveat_core.services.sessions import SESSION_COOKIE

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

THEME_COOKIE = "cultiveat_theme"
# Plugin renderers find the viewer's CSRF token here for the forms they render:
# ``<input type="hidden" name="_csrf" value="{request.scope['cultiveat.csrf_token']}">``.
CSRF_SCOPE_KEY = "cultiveat.csrf_token"
THEMES = ("light", "dark")


@attrs.frozen
class Viewer:
    actor: Actor
    csrf_token: str | None
    theme: str | None  # None: follow the system

    def can(self, permission: str | None) -> bool:
        return permission is None or self.actor.can(permission)


def bearer_authenticated(request: Any) -> bool:
    return str(request.headers.get("authorization", "")).lower().startswith("bearer ")


def resolve_viewer(crm: CRM, request: Any) -> Viewer | None:
    actor = crm.pm.hook.actor_from_request(crm=crm, request=request)
    if actor is None:
        return None
    csrf = None
    if not bearer_authenticated(request):
        session_id = request.cookies.get(SESSION_COOKIE)
        session = crm.sessions.resolve(session_id) if session_id else None
        if session is None:
            return None
        csrf = session.csrf_token
    theme = request.cookies.get(THEME_COOKIE)
    return Viewer(actor=actor, csrf_token=csrf, theme=theme if theme in THEMES else None)


def csrf_ok(viewer: Viewer, request: Any, form_value: str | None) -> bool:
    if bearer_authenticated(request):
        return True
    sent = form_value or request.headers.get("x-csrf-token") or ""
    return bool(viewer.csrf_token) and hmac.compare_digest(str(sent), str(viewer.csrf_token))
