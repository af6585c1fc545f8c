"""``/profile``: one's own account: password, two-step verification, sessions, API tokens.

Everything goes through the identity services (``crm.auth``, ``crm.sessions``,
``crm.tokens``), so the rules are theirs: the password policy of ``check_password``, the
current password checked by ``crm.auth.login`` (failures count towards the lockout), the TOTP
enrolment and recovery codes of ``crm.auth``. Every form carries the session's CSRF token and
works without JavaScript.

A password change ends every session of the user (the service's rule); this browser gets a
fresh session so the person who changed it stays signed in. Removing the authenticator ends
every session too (the service's rule), so the page sends the user to sign in again.
"""

from __future__ import annotations

from typing import Any

from litestar import Response
from litestar.datastructures import Cookie
from markupsafe import Markup

from cultiveat_core.errors import AuthenticationFailed, ValidationError
from cultiveat_core.services.sessions import SESSION_COOKIE
from cultiveat_web.routing import PageRequest, page_route, redirect

MIN_PASSWORD = 8


def _user(req: PageRequest) -> Any:
    if req.actor.user_id is None:
        raise ValidationError.field("user", "the profile belongs to a signed-in user")
    return req.crm.users.get_by_id(int(req.actor.user_id))


def _client_ip(req: PageRequest) -> str | None:
    client = req.request.client
    return client.host if client else None


def own_sessions(req: PageRequest, user_id: int) -> list[dict[str, Any]]:
    """The user's live sessions, newest first; ``current`` marks this browser's."""
    infos = req.crm.sessions.list_for_user(
        req.actor, user_id, current=req.request.cookies.get(SESSION_COOKIE)
    )
    return [
        {
            "ref": info.ref,
            "ip": info.ip,
            "user_agent": info.user_agent or "unknown browser",
            "created_at": info.created_at,
            "last_seen_at": info.last_seen_at,
            "current": info.current,
        }
        for info in infos
    ]


def _profile_page(
    req: PageRequest,
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
    recovery_codes: list[str] | None = None,
) -> Response[Any]:
    user = _user(req)
    return req.render(
        "profile.html",
        status=status,
        title="Your profile",
        user=user,
        mfa_enrolled=req.crm.auth.mfa_enrolled(user.id),
        mfa_required=user.role in req.crm.settings.mfa_roles,
        sessions=own_sessions(req, user.id),
        tokens=req.crm.tokens.list(req.actor, user.id),
        errors=errors or {},
        recovery_codes=recovery_codes or [],
    )


def _fresh_session(req: PageRequest, user: Any, response: Response[Any]) -> Response[Any]:
    """A new session for this browser after the service ended all of the user's sessions."""
    if req.request.cookies.get(SESSION_COOKIE) is None:
        return response  # a bearer-token request has no browser session to keep
    session = req.crm.sessions.start(
        user,
        mfa_passed=True,
        ip=_client_ip(req),
        user_agent=req.request.headers.get("user-agent"),
    )
    attributes = req.crm.sessions.cookie_attributes()
    response.cookies.append(Cookie(value=session.id, **attributes))  # type: ignore[arg-type]
    return response


@page_route("/profile")
def profile(req: PageRequest) -> Response[Any]:
    return _profile_page(req)


@page_route("/profile/password", methods=("POST",))
def change_password(req: PageRequest) -> Response[Any]:
    """Current password, then the new one twice; the identity service's rules apply."""
    user = _user(req)
    current = req.param("current_password")
    new = req.param("new_password")
    confirm = req.param("confirm_password")
    errors: dict[str, str] = {}
    if not current:
        errors["current_password"] = "Enter your current password."  # noqa: S105 - a field name
    if not new:
        errors["new_password"] = f"Enter a new password ({MIN_PASSWORD} characters or more)."
    elif new != confirm:
        errors["confirm_password"] = "The two new passwords differ: type the same one twice."  # noqa: S105 - a field name
    elif new == current:
        errors["new_password"] = "The new password must differ from the current one."  # noqa: S105 - a field name
    if errors:
        return _profile_page(req, errors=errors, status=422)
    try:
        req.crm.auth.change_own_password(req.actor, current, new, ip=_client_ip(req))
    except AuthenticationFailed as exc:
        message = (
            exc.message
            if exc.status == 429
            else "That is not your current password (failed attempts count towards the lockout)."
        )
        return _profile_page(req, errors={"current_password": message}, status=exc.status)
    except ValidationError as exc:
        message = "; ".join(e.message for e in exc.errors) if exc.errors else exc.message
        return _profile_page(req, errors={"new_password": message}, status=422)
    response = redirect("/profile", "Password changed. Every other session was signed out.")
    return _fresh_session(req, user, response)


@page_route("/profile/mfa/enrol", methods=("POST",))
def enrol_totp(req: PageRequest) -> Response[Any]:
    """Without ``code``: a new pending secret and its QR code (SVG; a POST, since it stores the
    secret). With ``code``: the app's current code activates it and recovery codes are shown."""
    user = _user(req)
    if req.crm.auth.mfa_enrolled(user.id):
        return redirect("/profile", "Two-step verification is already on.")
    if "code" not in req.form:
        return _enrol_page(req)
    code = "".join(req.param("code").split())
    try:
        codes = req.crm.auth.confirm_totp_enrolment(req.actor, code)
    except ValidationError as exc:
        message = "; ".join(e.message for e in exc.errors) or exc.message
        return _enrol_page(req, error=message + " (scan the new QR code below)")
    return _profile_page(req, recovery_codes=codes)


def _enrol_page(req: PageRequest, *, error: str | None = None) -> Response[Any]:
    secret, uri, qr = req.crm.auth.start_totp_enrolment(req.actor)
    return req.render(
        "profile_enrol.html",
        status=422 if error else 200,
        title="Set up two-step verification",
        secret=secret,
        otpauth_uri=uri,
        qr=Markup(qr),  # noqa: S704 - the core renders the QR code SVG itself
        error=error,
    )


def _check_code(req: PageRequest, user: Any) -> str | None:
    """An error message unless the form's code is a valid TOTP or recovery code."""
    code = "".join(req.param("code").split())
    if not code:
        return "Enter the current code from your authenticator app (or a recovery code)."
    try:
        ok = req.crm.auth.verify_totp(user.id, code, ip=_client_ip(req))
    except AuthenticationFailed as exc:
        return str(exc.message)
    return None if ok else "That code is not valid: enter the current 6-digit code."


@page_route("/profile/mfa/recovery-codes", methods=("POST",))
def regenerate_codes(req: PageRequest) -> Response[Any]:
    """New recovery codes (the old ones stop working), after a current code."""
    user = _user(req)
    error = _check_code(req, user)
    if error:
        return _profile_page(req, errors={"recovery_code": error}, status=422)
    codes = req.crm.auth.regenerate_recovery_codes(req.actor)
    return _profile_page(req, recovery_codes=codes)


@page_route("/profile/mfa/disable", methods=("POST",))
def disable_totp(req: PageRequest) -> Response[Any]:
    """Remove the authenticator after a current code; the service ends every session."""
    user = _user(req)
    error = _check_code(req, user)
    if error:
        return _profile_page(req, errors={"disable_code": error}, status=422)
    req.crm.auth.disable_totp(req.actor, user.id)
    response = redirect("/login?next=/profile")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@page_route("/profile/sessions/revoke-others", methods=("POST",))
def revoke_other_sessions(req: PageRequest) -> Response[Any]:
    """Sign out every other browser: the service ends all sessions, this one starts afresh."""
    user = _user(req)
    ended = req.crm.sessions.revoke_all(req.actor, user.id)
    others = max(0, ended - (1 if req.request.cookies.get(SESSION_COOKIE) else 0))
    response = redirect("/profile", f"Signed out of {others} other session(s).")
    return _fresh_session(req, user, response)


@page_route("/profile/sessions/{ref:str}/revoke", methods=("POST",))
def revoke_session(req: PageRequest, ref: str) -> Response[Any]:
    """Sign out one other browser (this one signs out with "Sign out")."""
    user = _user(req)
    if req.crm.sessions.revoke(req.actor, user.id, ref):
        return redirect("/profile", "That session was signed out.")
    return redirect("/profile", "That session had already ended.")


ROUTES = [
    profile,
    change_password,
    enrol_totp,
    regenerate_codes,
    disable_totp,
    revoke_other_sessions,
    revoke_session,
]
