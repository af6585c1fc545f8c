"""The Jinja2 environment and the page response: layout, navigation, theme, flash message."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from jinja2 import Environment, PackageLoader, select_autoescape
from litestar import Response
from litestar.datastructures import Cookie
from litestar.enums import MediaType
from markupsafe import Markup

from cultiveat_web import formatting
from cultiveat_web.navigation import nav_items

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM
    from cultiveat_web.viewer import Viewer

log = logging.getLogger("cultiveat.web.pages")
FLASH_COOKIE = "cultiveat_flash"

env = Environment(
    loader=PackageLoader("cultiveat_web", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
env.filters.update(
    initials=lambda c: formatting.initials(c.first_name, c.last_name),
    avatar_class=lambda c: formatting.avatar_class(c.first_name, c.last_name),
    relative_time=formatting.relative_time,
    stage_class=formatting.stage_class,
    stage_icon=formatting.stage_icon,
    type_class=formatting.type_class,
    score_class=formatting.score_class,
    position_at_company=formatting.position_at_company,
    urlquote=lambda v: quote(str(v), safe=""),
)


def as_markup(value: Any) -> Markup:
    """A plugin renderer's result: trusted HTML (``str`` or ``__html__``) of escaped values."""
    if value is None:
        return Markup("")
    return Markup(value)  # noqa: S704 - renderers return trusted HTML (the UI contract)


def render_contribution(item: Any, **kwargs: Any) -> Markup:
    """Call a plugin's renderer; a failing one shows a notice instead of breaking the page."""
    try:
        return as_markup(item.render(**kwargs))
    except Exception:
        log.exception("UI contribution %s failed to render", item.name)
        return Markup(
            '<p class="notice notice-error" role="status">{} is unavailable right now.</p>'
        ).format(item.label)


def page(
    crm: CRM,
    request: Any,
    viewer: Viewer | None,
    template: str,
    *,
    status: int = 200,
    **values: Any,
) -> Response[str]:
    flash = request.cookies.get(FLASH_COOKIE)
    context = {
        "crm": crm,
        "viewer": viewer,
        "actor": viewer.actor if viewer else None,
        "csrf": viewer.csrf_token if viewer else values.get("csrf"),
        "nav": nav_items(crm, viewer) if viewer else [],
        "path": request.url.path,
        "flash": unquote(flash) if flash else None,
        **values,
    }
    html = env.get_template(template).render(context)
    response: Response[str] = Response(html, status_code=status, media_type=MediaType.HTML)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'"
    )
    if flash:
        response.delete_cookie(FLASH_COOKIE)
    return response


def flash_cookie(message: str) -> Cookie:
    return Cookie(
        key=FLASH_COOKIE, value=quote(message), path="/", httponly=True, samesite="lax", max_age=60
    )
