"""``/login`` (password, then the MFA step), ``/login/forgot``, ``/logout`` and the theme preference.

Login forms have no session yet, so they are protected by the core's pre-session
double-submit token (``issue_login_token`` / ``verify_login_token``). A user who needs MFA
gets a session with ``mfa_passed=False`` that opens no page but ``/login/mfa``; a correct
code starts a fresh session (new id: rotation) and ends the half-way one.
"""

from __future__ import annotations

import functools
import hmac
from typing import Any
from urllib.parse import urlsplit

import anyio
from litestar import Request, Response, get, post
from litestar.datastructures import Cookie, FormMultiDict
from litestar.response import Redirect
from markupsafe import Markup

from cultiveat_core.crm import CRM
from cultiveat_core.errors import AuthenticationFailed, ValidationError
from cultiveat_core.services.sessions import SESSION_COOKIE
from cultiveat_core.web.csrf import issue_login_token, verify_login_token
from cultiveat_web.rendering import page
from cultiveat_web.routing import PageRequest, crm_of, page_route, redirect
from cultiveat_web.viewer import THEME_COOKIE, THEMES, resolve_viewer


def safe_next(target: str | None) -> str:
    """Only same-site paths: an open redirect after login would help phishing."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _client_ip(request: Any) -> str | None:
    return request.client.host if request.client else None


def _login_page(
    crm: CRM,
    request: Any,
    *,
    error: str | None = None,
    email: str = "",
    status: int = 200,
    step: str = "password",
) -> Response[str]:
    holder: Response[str] = Response("")
    token = issue_login_token(holder, request)
    response = page(
        crm,
        request,
        None,
        "login.html",
        status=status,
        csrf=token,
        error=error,
        email=email,
        step=step,
        next=safe_next(request.query_params.get("next")),
    )
    response.cookies.extend(holder.cookies)
    return response


def _session_cookie(crm: CRM, value: str) -> Cookie:
    return Cookie(value=value, **crm.sessions.cookie_attributes())  # type: ignore[arg-type]


def _show_login(crm: CRM, request: Any) -> Response[Any]:
    if resolve_viewer(crm, request) is not None:
        return Redirect(safe_next(request.query_params.get("next")), status_code=303)
    return _login_page(crm, request)


def _do_login(crm: CRM, request: Any, form: FormMultiDict) -> Response[Any]:
    email = str(form.get("email") or "").strip()
    if not verify_login_token(request, form.get("_csrf")):
        return _login_page(
            crm,
            request,
            email=email,
            status=403,
            error="The login form expired (CSRF token missing or wrong): please try again.",
        )
    try:
        result = crm.auth.login(email, str(form.get("password") or ""), ip=_client_ip(request))
    except AuthenticationFailed as exc:
        return _login_page(crm, request, email=email, status=exc.status, error=exc.message)
    next_path = safe_next(str(form.get("next") or ""))
    session = crm.sessions.start(
        result.user,
        mfa_passed=not result.mfa_required,
        ip=_client_ip(request),
        user_agent=request.headers.get("user-agent"),
        replaces=request.cookies.get(SESSION_COOKIE),
    )
    target = f"/login/mfa?next={next_path}" if result.mfa_required else next_path
    response = Redirect(target, status_code=303)
    response.cookies.append(_session_cookie(crm, session.id))
    return response


def _mfa_session(crm: CRM, request: Any) -> Any:
    return crm.sessions.resolve(request.cookies.get(SESSION_COOKIE))


def _show_mfa(crm: CRM, request: Any) -> Response[Any]:
    session = _mfa_session(crm, request)
    if session is None:
        return Redirect("/login", status_code=303)
    next_path = safe_next(request.query_params.get("next"))
    if session.mfa_passed:
        return Redirect(next_path, status_code=303)
    if crm.auth.mfa_enrolled(session.user_id):
        return page(
            crm, request, None, "login.html", csrf=session.csrf_token, step="mfa", next=next_path
        )
    actor = crm.users.actor_for(crm.users.get_by_id(session.user_id))
    secret, uri, qr = crm.auth.start_totp_enrolment(actor)
    return page(
        crm,
        request,
        None,
        "login.html",
        csrf=session.csrf_token,
        step="enrol",
        next=next_path,
        secret=secret,
        otpauth_uri=uri,
        qr=Markup(qr),  # noqa: S704 - the core renders the QR code SVG itself
    )


def _mfa_error(
    crm: CRM, request: Any, session: Any, next_path: str, step: str, error: str, status: int
) -> Response[str]:
    return page(
        crm,
        request,
        None,
        "login.html",
        status=status,
        csrf=session.csrf_token,
        step=step,
        next=next_path,
        error=error,
    )


def _do_mfa(crm: CRM, request: Any, form: FormMultiDict) -> Response[Any]:
    session = _mfa_session(crm, request)
    if session is None:
        return Redirect("/login", status_code=303)
    next_path = safe_next(str(form.get("next") or ""))
    enrolling = not crm.auth.mfa_enrolled(session.user_id)
    step = "enrol" if enrolling else "mfa"
    if not hmac.compare_digest(str(form.get("_csrf") or ""), session.csrf_token):
        return _mfa_error(
            crm,
            request,
            session,
            next_path,
            step,
            status=403,
            error="The form expired (CSRF token missing or wrong): please try again.",
        )
    code = "".join(str(form.get("code") or "").split())
    user = crm.users.get_by_id(session.user_id)
    recovery_codes: list[str] = []
    if enrolling:
        try:
            recovery_codes = crm.auth.confirm_totp_enrolment(crm.users.actor_for(user), code)
        except ValidationError as exc:
            return _mfa_error(
                crm,
                request,
                session,
                next_path,
                step,
                status=422,
                error=exc.message + " (or reload this page for a new QR code)",
            )
    else:
        try:
            passed = bool(code) and crm.auth.verify_totp(
                session.user_id, code, ip=_client_ip(request)
            )
        except AuthenticationFailed as exc:
            return _mfa_error(
                crm, request, session, next_path, step, status=exc.status, error=exc.message
            )
        if not passed:
            return _mfa_error(
                crm,
                request,
                session,
                next_path,
                step,
                status=401,
                error="That code is not valid: enter the current 6-digit code from your "
                "authenticator app, or one of your unused recovery codes.",
            )
    fresh = crm.sessions.start(
        user,
        mfa_passed=True,
        ip=_client_ip(request),
        user_agent=request.headers.get("user-agent"),
        replaces=session.id,
    )
    response: Response[Any]
    if recovery_codes:
        response = page(
            crm,
            request,
            None,
            "login.html",
            step="recovery",
            csrf=fresh.csrf_token,
            next=next_path,
            recovery_codes=recovery_codes,
        )
    else:
        response = Redirect(next_path, status_code=303)
    response.cookies.append(_session_cookie(crm, fresh.id))
    return response


def _logout(crm: CRM, request: Any, form: FormMultiDict) -> Response[Any]:
    session = crm.sessions.resolve(request.cookies.get(SESSION_COOKIE))
    if session is not None and hmac.compare_digest(
        str(form.get("_csrf") or ""), session.csrf_token
    ):
        crm.sessions.end(session.id)
    response = Redirect("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


FORGOT_SENT = (
    "If an active account uses this address, a link to choose a new password is on its way. "
    "It works once and expires; the second factor is still asked at the next login."
)


def _forgot_page(crm: CRM, request: Any, *, sent: bool = False, error: str | None = None,
                 email: str = "", status: int = 200) -> Response[str]:
    holder: Response[str] = Response("")
    token = issue_login_token(holder, request)
    response = page(crm, request, None, "forgot.html", status=status, csrf=token, title="Reset your password",
                    error=error, email=email, sent=FORGOT_SENT if sent else None)
    response.cookies.extend(holder.cookies)
    return response


def _do_forgot(crm: CRM, request: Any, form: FormMultiDict) -> Response[Any]:
    """The core's public "forgot password" (same answer for any address, throttled)."""
    email = str(form.get("email") or "").strip()[:320]
    if not verify_login_token(request, form.get("_csrf")):
        return _forgot_page(crm, request, email=email, status=403,
                            error="The form expired (CSRF token missing or wrong): please try again.")
    if "@" not in email:
        return _forgot_page(crm, request, email=email, status=422,
                            error="Give the email address you sign in with.")
    try:
        crm.auth.forgot_password(email, crm.settings.public_url or str(request.base_url),
                                 ip=_client_ip(request))
    except (AuthenticationFailed, ValidationError) as exc:
        return _forgot_page(crm, request, email=email, status=exc.status, error=exc.message)
    return _forgot_page(crm, request, sent=True)


async def _in_thread(fn: Any, *args: Any) -> Response[Any]:
    return await anyio.to_thread.run_sync(functools.partial(fn, *args))  # type: ignore[no-any-return]


@get("/login", include_in_schema=False, name="web.login")
async def login_form(request: Request[Any, Any, Any]) -> Response[Any]:
    return await _in_thread(_show_login, crm_of(request), request)


@post("/login", include_in_schema=False, name="web.login_submit", status_code=303)
async def login_submit(request: Request[Any, Any, Any]) -> Response[Any]:
    return await _in_thread(_do_login, crm_of(request), request, await request.form())


@get("/login/mfa", include_in_schema=False, name="web.mfa")
async def mfa_form(request: Request[Any, Any, Any]) -> Response[Any]:
    return await _in_thread(_show_mfa, crm_of(request), request)


@post("/login/mfa", include_in_schema=False, name="web.mfa_submit", status_code=303)
async def mfa_submit(request: Request[Any, Any, Any]) -> Response[Any]:
    return await _in_thread(_do_mfa, crm_of(request), request, await request.form())


@get("/login/forgot", include_in_schema=False, name="web.forgot")
async def forgot_form(request: Request[Any, Any, Any]) -> Response[Any]:
    return await _in_thread(_forgot_page, crm_of(request), request)


@post("/login/forgot", include_in_schema=False, name="web.forgot_submit", status_code=200)
async def forgot_submit(request: Request[Any, Any, Any]) -> Response[Any]:
    return await _in_thread(_do_forgot, crm_of(request), request, await request.form())


@post("/logout", include_in_schema=False, name="web.logout", status_code=303)
async def logout(request: Request[Any, Any, Any]) -> Response[Any]:
    return await _in_thread(_logout, crm_of(request), request, await request.form())


@page_route("/preferences/theme", methods=("POST",))
def set_theme(req: PageRequest) -> Response[Any]:
    """Remember the theme toggle in a cookie (works without JavaScript: back to the page)."""
    theme = req.param("theme")
    response = redirect(safe_next(req.param("next")))
    if theme in THEMES:
        response.cookies.append(
            Cookie(key=THEME_COOKIE, value=theme, path="/", samesite="lax", max_age=365 * 86400)
        )
    else:
        response.delete_cookie(THEME_COOKIE, path="/")
    return response


ROUTES = [login_form, login_submit, mfa_form, mfa_submit, forgot_form, forgot_submit, logout, set_theme]
