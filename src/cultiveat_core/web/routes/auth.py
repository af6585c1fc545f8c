"""Browser login over JSON (``/auth/*``): password, TOTP, enrolment, logout, password reset.

These set the ``cultiveat_session`` cookie. They are outside ``/api`` (no actor needed to
log in) and accept JSON bodies only, which a cross-site HTML form cannot send; the web UI's
``/login`` pages may use them or call ``crm.auth``/``crm.sessions`` directly.
"""

from __future__ import annotations

from typing import Any

import attrs
import msgspec
from litestar import Request, Response, get, post
from litestar.exceptions import NotAuthorizedException

from cultiveat_core.crm import CRM
from cultiveat_core.domain import Actor
from cultiveat_core.errors import AuthenticationFailed, ValidationError
from cultiveat_core.services.sessions import SESSION_COOKIE, Session
from cultiveat_core.web.auth import request_id_for


class LoginBody(msgspec.Struct, forbid_unknown_fields=True):
    email: str
    password: str


class CodeBody(msgspec.Struct, forbid_unknown_fields=True):
    code: str


class ResetBody(msgspec.Struct, forbid_unknown_fields=True):
    token: str
    password: str


def client_ip(request: Request[Any, Any, Any]) -> str | None:
    return request.client.host if request.client else None


def _session_response(
    crm: CRM, body: dict[str, Any], session: Session, status: int = 200
) -> Response[Any]:
    response = Response(
        body | {"csrf_token": session.csrf_token, "mfa_passed": session.mfa_passed},
        status_code=status,
    )
    response.set_cookie(
        SESSION_COOKIE,
        session.id,
        max_age=int(crm.sessions.absolute.total_seconds()),
        path="/",
        secure=crm.settings.cookie_secure,
        httponly=True,
        samesite="lax",
    )
    return response


def _current_session(crm: CRM, request: Request[Any, Any, Any]) -> Session:
    session = crm.sessions.resolve(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise NotAuthorizedException("no session: log in first (POST /auth/login)")
    return session


@post("/auth/login", sync_to_thread=True, tags=["auth"], status_code=200)
def login(crm: CRM, request: Request[Any, Any, Any], data: LoginBody) -> Response[Any]:
    """Check email and password; start a new session (the old cookie, if any, is ended).

    ``mfa_required``: the session counts only after ``POST /auth/mfa`` (or enrolment when
    ``mfa_enrolment_required``)."""
    result = crm.auth.login(
        data.email, data.password, ip=client_ip(request), request_id=request_id_for(request)
    )
    session = crm.sessions.start(
        result.user,
        mfa_passed=not result.mfa_required,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
        replaces=request.cookies.get(SESSION_COOKIE),
    )
    return _session_response(
        crm,
        {
            "user": {"id": result.user.id, "email": result.user.email, "role": result.user.role},
            "mfa_required": result.mfa_required,
            "mfa_enrolment_required": result.mfa_enrolment_required,
        },
        session,
    )


@post("/auth/mfa", sync_to_thread=True, tags=["auth"], status_code=200)
def verify_mfa(crm: CRM, request: Request[Any, Any, Any], data: CodeBody) -> Response[Any]:
    """Second step: a TOTP or recovery code; a new session id replaces the pending one."""
    session = _current_session(crm, request)
    if not crm.auth.verify_totp(
        session.user_id, data.code, ip=client_ip(request), request_id=request_id_for(request)
    ):
        raise AuthenticationFailed(
            "the code is wrong or was already used; type the current 6-digit code "
            "or an unused recovery code"
        )
    user = crm.users.get_by_id(session.user_id)
    new = crm.sessions.start(
        user,
        mfa_passed=True,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
        replaces=session.id,
    )
    return _session_response(
        crm, {"user": {"id": user.id, "email": user.email, "role": user.role}}, new
    )


def _session_actor(crm: CRM, session: Session, request: Request[Any, Any, Any]) -> Actor:
    user = crm.users.get_by_id(session.user_id)
    if session.mfa_passed is False and crm.auth.mfa_enrolled(user.id):
        raise NotAuthorizedException("finish the second step first (POST /auth/mfa)")
    return attrs.evolve(crm.users.actor_for(user), request_id=request_id_for(request), session=True)


@post("/auth/mfa/enrol", sync_to_thread=True, tags=["auth"], status_code=200)
def start_enrolment(crm: CRM, request: Request[Any, Any, Any]) -> dict[str, str]:
    """A new TOTP secret as ``otpauth_uri`` and an SVG QR code (pending until confirmed)."""
    actor = _session_actor(crm, _current_session(crm, request), request)
    secret, uri, svg = crm.auth.start_totp_enrolment(actor)
    return {"secret": secret, "otpauth_uri": uri, "qr_svg": svg}


@post("/auth/mfa/enrol/confirm", sync_to_thread=True, tags=["auth"], status_code=200)
def confirm_enrolment(crm: CRM, request: Request[Any, Any, Any], data: CodeBody) -> Response[Any]:
    """Activate the authenticator with its current code; returns recovery codes once."""
    session = _current_session(crm, request)
    actor = _session_actor(crm, session, request)
    codes = crm.auth.confirm_totp_enrolment(actor, data.code)
    user = crm.users.get_by_id(session.user_id)
    new = crm.sessions.start(
        user,
        mfa_passed=True,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
        replaces=session.id,
    )
    return _session_response(crm, {"recovery_codes": codes}, new)


@post("/auth/logout", sync_to_thread=True, tags=["auth"], status_code=204)
def logout(crm: CRM, request: Request[Any, Any, Any]) -> Response[None]:
    crm.sessions.end(request.cookies.get(SESSION_COOKIE))
    response: Response[None] = Response(None, status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@get("/auth/session", sync_to_thread=True, tags=["auth"])
def current_session(crm: CRM, request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The signed-in user and the CSRF token to send with state-changing requests."""
    session = _current_session(crm, request)
    user = crm.users.get_by_id(session.user_id)
    return {
        "user": {"id": user.id, "email": user.email, "role": user.role},
        "csrf_token": session.csrf_token,
        "mfa_passed": session.mfa_passed,
        "expires_at": session.expires_at.isoformat(),
    }


@post("/auth/password-reset", sync_to_thread=True, tags=["auth"], status_code=204)
def reset_password(crm: CRM, request: Request[Any, Any, Any], data: ResetBody) -> None:
    """Set a new password with a single-use reset token; every session of the user ends and
    the next login still asks for the second factor."""
    if not data.token:
        raise ValidationError.field("token", "the token from the reset link is required")
    crm.auth.reset_password(data.token, data.password, request_id=request_id_for(request))


AUTH_ROUTES = [
    login,
    verify_mfa,
    start_enrolment,
    confirm_enrolment,
    logout,
    current_session,
    reset_password,
]
