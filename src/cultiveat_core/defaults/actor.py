"""Default ``actor_from_request``: a Bearer API token first, then the browser session cookie.

A request with an ``Authorization`` header is decided by the token alone (a wrong token is
never rescued by a cookie). A session yields an actor only once MFA is satisfied when the
user's role requires it or the user enrolled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from cultiveat_core.errors import NotFound
from cultiveat_core.markers import hookimpl
from cultiveat_core.services.sessions import SESSION_COOKIE

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM
    from cultiveat_core.domain import Actor


@hookimpl(trylast=True)
def actor_from_request(crm: CRM, request: Any) -> Actor | None:
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return crm.tokens.authenticate(token.strip())
    return actor_from_session(crm, request.cookies.get(SESSION_COOKIE))


def actor_from_session(crm: CRM, session_id: str | None) -> Actor | None:
    session = crm.sessions.resolve(session_id)
    if session is None:
        return None
    try:
        user = crm.users.get_by_id(session.user_id)
    except NotFound:
        return None
    if not user.is_active:
        return None
    if not session.mfa_passed and crm.auth.mfa_required_for(user):
        return None
    return attrs.evolve(crm.users.actor_for(user), session=True)
