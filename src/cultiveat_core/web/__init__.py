"""The Litestar app: ``create_app(crm)`` and the ASGI factory ``cultiveat_core.web:asgi_app``."""

from cultiveat_core.web.app import asgi_app, create_app

__all__ = ["asgi_app", "create_app"]
