"""Page handlers: resolve the viewer, check CSRF on forms, map service errors to pages.

A page function is synchronous (it calls the blocking services) and receives a ``PageRequest``;
``page_route`` turns it into an async Litestar handler that parses the form first and runs
the function in a worker thread. Anonymous requests are redirected to ``/login``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

import anyio
import attrs
from litestar import Request, Response, route
from litestar.datastructures import FormMultiDict
from litestar.response import Redirect

from cultiveat_core.crm import CRM
from cultiveat_core.errors import CultiveatError
from cultiveat_web.rendering import flash_cookie, page
from cultiveat_web.viewer import CSRF_SCOPE_KEY, Viewer, csrf_ok, resolve_viewer

MAX_FORM_BYTES = 20 * 1024 * 1024


@attrs.frozen
class PageRequest:
    crm: CRM
    request: Any
    viewer: Viewer
    form: FormMultiDict

    @property
    def actor(self) -> Any:
        return self.viewer.actor

    def param(self, name: str, default: str = "") -> str:
        value = self.form.get(name) if self.request.method != "GET" else None
        if value is None:
            value = self.request.query_params.get(name)
        return default if value is None else str(value)

    def params(self, name: str) -> list[str]:
        source = self.form if self.request.method != "GET" else self.request.query_params
        return [str(v) for v in source.getall(name, []) if str(v).strip()]

    def render(self, template: str, *, status: int = 200, **values: Any) -> Response[str]:
        return page(self.crm, self.request, self.viewer, template, status=status, **values)


PageFunction = Callable[..., Response[Any]]


def crm_of(request: Any) -> CRM:
    """The app's CRM (``create_app`` keeps it in ``app.state``)."""
    return request.app.state.crm  # type: ignore[no-any-return]


def login_redirect(request: Any) -> Redirect:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return Redirect(f"/login?next={quote(target, safe='')}", status_code=303)


def redirect(to: str, message: str | None = None) -> Redirect:
    response = Redirect(to, status_code=303)
    if message:
        response.cookies.append(flash_cookie(message))
    return response


def _run(
    fn: PageFunction, crm: CRM, request: Any, form: FormMultiDict, kwargs: dict[str, Any]
) -> Response[Any]:
    viewer = resolve_viewer(crm, request)
    if viewer is None:
        return login_redirect(request)
    request.scope[CSRF_SCOPE_KEY] = viewer.csrf_token or ""
    if request.method != "GET" and not csrf_ok(viewer, request, form.get("_csrf")):
        return page(
            crm,
            request,
            viewer,
            "error.html",
            status=403,
            title="Form expired",
            message="CSRF token missing or wrong: reload the page and submit the form again.",
        )
    try:
        return fn(PageRequest(crm, request, viewer, form), **kwargs)
    except CultiveatError as exc:
        return page(
            crm,
            request,
            viewer,
            "error.html",
            status=exc.status,
            title=exc.title,
            message=exc.message,
        )


def page_route(
    path: str | Sequence[str], *, methods: Sequence[str] = ("GET",)
) -> Callable[[PageFunction], Any]:
    """Declare a page; path parameters are passed to the function as keyword arguments."""

    def wrap(fn: PageFunction) -> Any:
        async def handler(request: Request[Any, Any, Any]) -> Response[Any]:
            crm = crm_of(request)
            form = FormMultiDict()
            if request.method != "GET":
                form = await request.form()
            kwargs = dict(request.path_params)
            return await anyio.to_thread.run_sync(
                functools.partial(_run, fn, crm, request, form, kwargs)
            )

        handler.__name__ = fn.__name__
        handler.__qualname__ = fn.__qualname__
        handler.__doc__ = fn.__doc__
        return route(
            path,
            http_method=list(methods),
            name=f"web.{fn.__name__}",
            include_in_schema=False,
            request_max_body_size=MAX_FORM_BYTES,
        )(handler)

    return wrap
