"""``create_app(crm)``: core routes, every plugin's, auth on ``/api``, problem-details errors."""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING, Any, cast

from litestar import Litestar, Request, Router
from litestar.di import Provide
from litestar.logging.config import LoggingConfig
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from cultiveat_core.domain import Actor
from cultiveat_core.web.auth import ActorMiddleware, denial_auditor
from cultiveat_core.web.csrf import CSRFMiddleware
from cultiveat_core.web.problems import EXCEPTION_HANDLERS, DocumentedJsonRenderPlugin
from cultiveat_core.web.routes import CORE_ROUTES
from cultiveat_core.web.routes.bodies import DeclaredBodySchemaPlugin

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

log = logging.getLogger("cultiveat.web")


def provide_actor(request: Request[Any, Any, Any]) -> Actor:
    return request.user  # type: ignore[no-any-return]


def create_app(crm: CRM, *, check_database: bool = True, run_jobs: bool | None = None) -> Litestar:
    """The Litestar app for ``crm``; plugin routes are mounted as they were registered."""
    handlers: list[Any] = list(CORE_ROUTES)
    for registered in crm.registry.routes:
        handlers.append(registered.item)
    if run_jobs is None:
        run_jobs = not crm.settings.broker_url and crm.settings.embedded_worker
    runner: Any = None

    def startup(app: Litestar) -> None:
        nonlocal runner
        if check_database:
            crm.check_database()
        if run_jobs:
            from cultiveat_core.jobs.runner import EmbeddedRunner

            runner = EmbeddedRunner(crm)
            runner.start()

    def shutdown(app: Litestar) -> None:
        if runner is not None:
            runner.stop()

    with warnings.catch_warnings():
        # The /api-only auth middleware excludes every other path on purpose.
        warnings.filterwarnings("ignore", message=".*greedily matches all paths.*")
        app = _build(crm, handlers, startup, shutdown)
    app.state.crm = crm
    return app


def _build(crm: CRM, handlers: list[Any], startup: Any, shutdown: Any) -> Litestar:
    return Litestar(
        route_handlers=[Router(path="/", route_handlers=handlers)],
        dependencies={
            "crm": Provide(lambda: crm, use_cache=True, sync_to_thread=False),
            "actor": Provide(provide_actor, sync_to_thread=False),
        },
        middleware=[
            # CSRFMiddleware is a plain ASGI class; Litestar's type wants a factory callable.
            DefineMiddleware(cast(Any, CSRFMiddleware), crm=crm),
            DefineMiddleware(ActorMiddleware, crm=crm),
        ],
        after_exception=[denial_auditor(crm)],
        exception_handlers=EXCEPTION_HANDLERS,
        # request bodies' schemas say additionalProperties: false when unknown fields are refused
        plugins=[DeclaredBodySchemaPlugin()],
        on_startup=[startup],
        on_shutdown=[shutdown],
        openapi_config=OpenAPIConfig(
            title="Cultiveat",
            version="0.1.0",
            path="/schema",
            # openapi.json documents every /api operation's problem answers (web/problems.py)
            render_plugins=[SwaggerRenderPlugin(), DocumentedJsonRenderPlugin()],
            components=Components(security_schemes={
                "bearer": SecurityScheme(type="http", scheme="bearer", description="API token")
            }),
            security=[{"bearer": []}],
        ),
        # Logging is the process's business (``configure_logging``): Litestar must not replace
        # the root logger's handlers; its own loggers propagate to them.
        logging_config=LoggingConfig(configure_root_logger=False, log_exceptions="never"),
        debug=crm.settings.debug,
    )


def asgi_app() -> Litestar:
    """ASGI factory for uvicorn/granian: ``uvicorn --factory cultiveat_core.web:asgi_app``."""
    from cultiveat_core.crm import create_crm
    from cultiveat_core.logging import configure_logging

    configure_logging()
    return create_app(create_crm())
