"""The core's own routes."""

from cultiveat_core.web.routes.contacts import ContactController
from cultiveat_core.web.routes.health import health
from cultiveat_core.web.routes.jobs import get_job
from cultiveat_core.web.routes.plugins import list_plugins

CORE_ROUTES = [health, list_plugins, get_job, ContactController]

# identity, access control, audit and privacy (issue 5)
from cultiveat_core.web.routes.identity import IDENTITY_ROUTES  # noqa: E402

CORE_ROUTES += IDENTITY_ROUTES

# contacts domain: tags, companies, custom fields, bulk activities, imports (issue 4)
from cultiveat_core.web.routes.contacts_extra import CONTACT_EXTRA_ROUTES  # noqa: E402

CORE_ROUTES += CONTACT_EXTRA_ROUTES

__all__ = ["CORE_ROUTES"]
