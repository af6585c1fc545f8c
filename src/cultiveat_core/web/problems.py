"""Errors as JSON problem details (RFC 9457) with a message saying what to fix."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy.exc as sa_exc
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.openapi.plugins import JsonRenderPlugin

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
    response = problem(exc.status, exc.title, exc.message, **extra)
    if isinstance(extra.get("retry_after"), int):  # lockouts and rate limits (429)
        response.headers["Retry-After"] = str(max(1, extra["retry_after"]))
    return response


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


# -- OpenAPI: every /api operation documents its problem answers (schemathesis, clients) ------

PROBLEM_STATUSES = {
    400: "Malformed request: bad JSON, an undeclared field, a parameter of the wrong type",
    401: "No valid credentials: send `Authorization: Bearer <token>` (or log in)",
    403: "Authenticated, but the role lacks the permission (audited as permission.denied)",
    404: "The object does not exist, or the caller may not see it",
    409: "Conflicts with the current state (a duplicate, a state that forbids the change)",
    412: "If-Match names an older version: reload and apply the change again",
    422: "The values break a rule; `errors` lists each field and what to fix",
    429: "Too many attempts: wait `Retry-After` seconds",
}
DOWNLOAD_TYPES = (
    "text/csv",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/zip",
)
PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {}},
    },
    "additionalProperties": True,
}


def document_problem_responses(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the problem+json answers (400-429) to every ``/api`` operation of an OpenAPI dict,
    and the file types to downloads (GET paths ending in ``/export`` or ``.csv``). In place and
    idempotent; an operation's own declaration of a status wins."""
    from cultiveat_core.web.auth import PUBLIC_API_PATHS

    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("Problem", PROBLEM_SCHEMA)
    content = {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, item in (schema.get("paths") or {}).items():
        if not path.startswith("/api"):
            continue
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            public = path in PUBLIC_API_PATHS
            if public:
                operation["security"] = []  # no credentials needed (the app's default is bearer)
            for status, description in PROBLEM_STATUSES.items():
                if public and status in (401, 403):
                    continue
                answer = responses.setdefault(str(status), {"description": description})
                # Litestar's own 400 says application/json: the body is problem+json either way
                answer.setdefault("content", {}).update(content)
            if method == "get" and (path.endswith("/export") or path.endswith(".csv")):
                ok = responses.setdefault("200", {"description": "the file"})
                types = ok.setdefault("content", {})
                for media_type in DOWNLOAD_TYPES:
                    types.setdefault(media_type, {"schema": {"type": "string", "format": "binary"}})
    return schema


class DocumentedJsonRenderPlugin(JsonRenderPlugin):
    """``/schema/openapi.json`` with :func:`document_problem_responses` applied (once: the
    schema dict is built and cached by Litestar on the first request)."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        document_problem_responses(openapi_schema)
        return super().render(request, openapi_schema)
