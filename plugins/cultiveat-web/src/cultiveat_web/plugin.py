"""The ``web`` plugin: page routes, static files, its migrations, its own tabs and actions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar.static_files import create_static_files_router

from cultiveat_core import hookimpl
from cultiveat_web.pages import (
    admin,
    contact_detail,
    contact_form,
    contacts,
    dashboard,
    imports,
    profile,
    session,
)
from cultiveat_web.tabs import web_contributions

HERE = Path(__file__).parent
STATIC_PATH = "/static/web"


@hookimpl
def register_migrations() -> list[str]:
    return [str(HERE / "migrations" / "versions")]


@hookimpl
def register_routes() -> list[Any]:
    static = create_static_files_router(
        path=STATIC_PATH,
        directories=[HERE / "static"],
        name="web.static",
        include_in_schema=False,
        cache_control=None,
    )
    return [
        static,
        *session.ROUTES,
        *dashboard.ROUTES,
        *contacts.ROUTES,
        *contact_form.ROUTES,
        *contact_detail.ROUTES,
        *imports.ROUTES,
        *admin.ROUTES,
        *profile.ROUTES,
    ]


@hookimpl
def register_ui() -> list[Any]:
    return web_contributions()
