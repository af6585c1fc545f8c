"""Errors as JSON problem details (RFC 9457) with a message saying what to fix."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy.exc as sa_exc
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException

from cultiveat_core.errors import CultiveatError, ValidationError

log = logging.getLogger("cultiveat.web")
PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str, **extra: Any) -> Response[dict[str, Any]]:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return Response(body, status_code=status, media_type=PROBLEM)


def cultiveat_error(
    request: Request[Any, Any, Any], exc: CultiveatError
) -> Response[dict[str, Any]]:
    extra: dict[str, Any] = {k: v for k, v in exc.extra.items() if k != "_headers"}
    if isinstance(exc, ValidationError):
        extra["errors"] = [e.as_dict() for e in exc.errors]
    if exc.status >= 500:
        log.error("%s on %s %s: %s", exc.title, request.method, request.url.path, exc.message)
    return problem(exc.status, exc.title, exc.message, **extra)


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    extra: dict[str, Any] = {}
    detail = exc.detail
    if isinstance(exc, ValidationException):
        found = exc.extra if isinstance(exc.extra, list) else [exc.extra] if exc.extra else []
        extra["errors"] = found
        detail = f"{exc.detail}: check the request body and parameters against /schema"
    if isinstance(exc, NotAuthorizedException):
        detail = exc.detail if exc.detail != "Unauthorized" else (
            "authentication required: send `Authorization: Bearer <token>` "
            "(create one with `cultiveat tokens create EMAIL`)"
        )
    headers = dict(exc.headers or {})
    response = problem(exc.status_code, _title(exc.status_code), detail, **extra)
    response.headers.update(headers)
    return response


def unexpected_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return problem(500, "Internal server error",
                   "something went wrong on our side; the error was logged")


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def out_of_range(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """A number too large for the database (e.g. an id past 2**31) is bad input, not our failure."""
    log.info("out-of-range value on %s %s: %s", request.method, request.url.path, exc)
    return problem(422, "Validation failed",
                   "a number in the request is out of range (ids are at most 2147483647)")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    OverflowError: out_of_range,
    sa_exc.DataError: out_of_range,
    CultiveatError: cultiveat_error,
    HTTPException: http_error,
    Exception: unexpected_error,
}
