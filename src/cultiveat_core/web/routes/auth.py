"""Browser login over JSON (``/auth/*``): password, TOTP, enrolment, logout, password reset.

These set the ``cultiveat_session`` cookie. They are outside ``/api`` (no actor needed to
log in) and accept JSON bodies only, which a cross-site HTML form cannot send; the web UI's
``/login`` pages may use them or call ``crm.auth``/``crm.sessions`` directly.
"""

from __future__ import annotations

import html
from typing import Annotated, Any

import anyio
import attrs
import msgspec
from litestar import Request, Response, get, post
from litestar.exceptions import NotAuthorizedException
from litestar.openapi import ResponseSpec

from cultiveat_core.crm import CRM
from cultiveat_core.domain import Actor
from cultiveat_core.errors import AuthenticationFailed, ValidationError
from cultiveat_core.services.sessions import SESSION_COOKIE, Session
from cultiveat_core.web.auth import request_id_for


class LoginBody(msgspec.Struct, forbid_unknown_fields=True):
    """Email and password."""

    email: str
    password: str


class CodeBody(msgspec.Struct, forbid_unknown_fields=True):
    """A TOTP code or an unused recovery code."""

    code: str


class ResetBody(msgspec.Struct, forbid_unknown_fields=True):
    """The reset link's token and the new password."""

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


RESET_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Choose a new password</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex">
<style>body{{font:16px system-ui,sans-serif;max-width:26rem;margin:3rem auto;padding:0 1rem}}
label,input,button{{display:block;width:100%;margin:.4rem 0}}input{{padding:.5rem}}
.error{{color:#a40000}}</style></head><body>
<h1>Choose a new password</h1>{message}
<form method="post" action="/auth/password-reset/form">
<input type="hidden" name="token" value="{token}">
<label for="password">New password (8 characters or more)</label>
<input id="password" name="password" type="password" autocomplete="new-password" minlength="8" required>
<label for="confirm">The new password again</label>
<input id="confirm" name="confirm" type="password" autocomplete="new-password" minlength="8" required>
<button type="submit">Set the new password</button></form></body></html>"""
DONE_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Password changed</title>
</head><body style="font:16px system-ui,sans-serif;max-width:26rem;margin:3rem auto">
<h1>Password changed</h1><p>Your password is set and every open session was ended.
<a href="/login">Log in</a> with it (your second factor is still asked).</p></body></html>"""


def _page(body: str, status: int = 200) -> Response[str]:
    return Response(
        body,
        status_code=status,
        media_type="text/html",
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


@get("/auth/password-reset", sync_to_thread=False, include_in_schema=False)
def reset_page(token: str = "") -> Response[str]:
    """The page a reset link opens: a form for the new password (the token stays in it)."""
    return _page(RESET_PAGE.format(token=html.escape(token[:200], quote=True), message=""))


@post("/auth/password-reset/form", include_in_schema=False, status_code=200)
async def reset_form(crm: CRM, request: Request[Any, Any, Any]) -> Response[str]:
    """The reset page's form (URL-encoded): the same rules as ``POST /auth/password-reset``."""
    form = await request.form()
    token = str(form.get("token") or "")[:200]
    password = str(form.get("password") or "")
    message = ""
    if password != str(form.get("confirm") or ""):
        message = "the two passwords differ; type the same one twice"
    else:
        try:
            await anyio.to_thread.run_sync(
                lambda: crm.auth.reset_password(token, password, request_id=request_id_for(request))
            )
            return _page(DONE_PAGE)
        except (AuthenticationFailed, ValidationError) as exc:
            details = "; ".join(e.message for e in getattr(exc, "errors", []) or [])
            message = details or exc.message
    error = f'<p class="error" role="alert">{html.escape(message)}</p>'
    return _page(RESET_PAGE.format(token=html.escape(token, quote=True), message=error), 400)


class ForgotBody(msgspec.Struct, forbid_unknown_fields=True):
    """The address one logs in with."""

    email: Annotated[str, msgspec.Meta(max_length=320, pattern=r"^[^@\s\x1c-\x1f\x85]+@[^@\s\x1c-\x1f\x85]+$")]


FORGOT_ANSWER = (
    "if an active account uses this address, a link to reset its password is on its way; "
    "it expires and works once"
)


@post(
    "/api/auth/password-reset",
    sync_to_thread=True,
    tags=["auth"],
    status_code=202,
    responses={429: ResponseSpec(None, description="too many reset requests from this address")},
)
def forgot_password(crm: CRM, request: Request[Any, Any, Any], data: ForgotBody) -> dict[str, str]:
    """Public "forgot password": always 202 with the same answer, whether or not the address is a
    user's. A single-use link (valid ``password_reset_minutes``) goes to the address by the
    configured mail (``CULTIVEAT_MAIL_URL``; logged when unset). Setting a new password with it
    ends every session and does not bypass MFA. Rate-limited per address and per client."""
    if "@" not in data.email:
        raise ValidationError.field("email", "give the email address you log in with")
    crm.auth.forgot_password(
        data.email,
        crm.settings.public_url or str(request.base_url),
        ip=client_ip(request),
        request_id=request_id_for(request),
    )
    return {"detail": FORGOT_ANSWER}


AUTH_ROUTES = [
    forgot_password,
    reset_page,
    reset_form,
    login,
    verify_mfa,
    start_enrolment,
    confirm_enrolment,
    logout,
    current_session,
    reset_password,
]
