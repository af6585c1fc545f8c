"""The core's own routes."""

from cultiveat_core.web.routes.contacts import ContactController
from cultiveat_core.web.routes.health import health
from cultiveat_core.web.routes.jobs import get_job
from cultiveat_core.web.routes.plugins import list_plugins

CORE_ROUTES = [health, list_plugins, get_job, ContactController]

__all__ = ["CORE_ROUTES"]
