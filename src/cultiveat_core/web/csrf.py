"""CSRF protection for browser requests (ASVS 3.5.1, 3.5.2).

Every state-changing request (POST/PUT/PATCH/DELETE) that carries the session cookie and no
``Authorization`` header must send the session's CSRF token in the ``X-CSRF-Token`` header
or a ``_csrf`` form field; otherwise it gets 403 before any handler runs, so nothing changes.
Bearer-token requests are not exposed to CSRF (browsers never add that header on their own).

The login form has no session yet: ``issue_login_token(response)`` sets a short-lived cookie
and returns the value to put in the form's ``_csrf`` field; ``verify_login_token(request,
form_value)`` checks that both match (double-submit). Paths in ``CSRF_EXEMPT_PATHS`` check
their own token that way (``/login``) or accept JSON only (``/auth/login``, which a
cross-site form cannot send).
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import anyio

from cultiveat_core.services.sessions import SESSION_COOKIE

if TYPE_CHECKING:
    from litestar import Request, Response

    from cultiveat_core.crm import CRM

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "_csrf"
LOGIN_COOKIE = "cultiveat_login_csrf"
LOGIN_TOKEN_SECONDS = 3600
# the reset form carries its own unguessable single-use token: nothing for a forged post to use
CSRF_EXEMPT_PATHS: set[str] = {"/login", "/auth/login", "/auth/password-reset", "/auth/password-reset/form"}
MAX_FORM_BYTES = 2 * 1024 * 1024
_MULTIPART_FIELD = re.compile(rb'name="_csrf"\r\n(?:[^\r\n]*\r\n)*\r\n([^\r\n]*)\r\n')

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _cookies(header: str) -> dict[str, str]:
    jar: dict[str, str] = {}
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if name and name not in jar:
            jar[name] = value
    return jar


def _form_token(content_type: str, body: bytes) -> str | None:
    if content_type.startswith("application/x-www-form-urlencoded"):
        values = parse_qs(body.decode("utf-8", "replace")).get(CSRF_FIELD)
        return values[0] if values else None
    if content_type.startswith("multipart/form-data"):
        found = _MULTIPART_FIELD.search(body)
        return found.group(1).decode("utf-8", "replace") if found else None
    return None


async def _forbidden(send: Send) -> None:
    body = json.dumps(
        {
            "type": "about:blank",
            "title": "Forbidden",
            "status": 403,
            "detail": "CSRF token missing or wrong: send the session's token in the "
            "X-CSRF-Token header or the _csrf form field (reload the page)",
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class CSRFMiddleware:
    """ASGI middleware; the body it reads for ``_csrf`` is replayed to the app unchanged."""

    def __init__(self, app: Callable[..., Awaitable[None]], crm: CRM) -> None:
        self.app = app
        self.crm = crm

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] in SAFE_METHODS
            or scope["path"] in CSRF_EXEMPT_PATHS
        ):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        cookie = _cookies(headers.get("cookie", "")).get(SESSION_COOKIE)
        if headers.get("authorization") or not cookie:
            await self.app(scope, receive, send)
            return
        session = await anyio.to_thread.run_sync(self.crm.sessions.resolve, cookie)
        if session is None:  # not a live session: authentication decides, nothing to forge
            await self.app(scope, receive, send)
            return
        sent = headers.get(CSRF_HEADER)
        replay: list[dict[str, Any]] = []
        if sent is None:
            body, replay = await _read_body(receive)
            sent = _form_token(headers.get("content-type", ""), body)
        if not sent or not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
            await _forbidden(send)
            return
        await self.app(scope, _replaying(replay, receive) if replay else receive, send)


async def _read_body(receive: Receive) -> tuple[bytes, list[dict[str, Any]]]:
    messages: list[dict[str, Any]] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        size += len(message.get("body", b""))
        if not message.get("more_body", False) or size > MAX_FORM_BYTES:
            break
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
    return body, messages


def _replaying(messages: list[dict[str, Any]], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> dict[str, Any]:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


def issue_login_token(
    response: Response[Any], request: Request[Any, Any, Any] | None = None
) -> str:
    """Set the pre-session CSRF cookie on ``response``; put the returned value in ``_csrf``."""
    token = secrets.token_urlsafe(32)
    secure = True
    if request is not None and getattr(request.app.state, "crm", None) is not None:
        secure = request.app.state.crm.settings.cookie_secure
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=LOGIN_TOKEN_SECONDS,
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
    )
    return token


def verify_login_token(request: Request[Any, Any, Any], form_value: str | None) -> bool:
    """True when the form's ``_csrf`` equals the pre-session cookie (double submit)."""
    cookie = request.cookies.get(LOGIN_COOKIE)
    if not cookie or not form_value:
        return False
    return hmac.compare_digest(cookie.encode(), str(form_value).encode())
