"""The navigation bar: the web plugin's own pages plus every plugin's ``NavItem``.

Each entry appears only to actors holding its permission, so a role never sees a link to a
page it may not open.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM
    from cultiveat_web.viewer import Viewer

ADMIN_PERMISSIONS = ("users.manage", "tokens.manage", "plugins.read", "audit.read")


@attrs.frozen
class Link:
    label: str
    href: str
    icon: str = ""


def nav_items(crm: CRM, viewer: Viewer) -> list[Link]:
    links = [Link("Dashboard", "/", "◧")]
    if viewer.can("contacts.read"):
        links.append(Link("Contacts", "/contacts", "☺"))
    if viewer.can("contacts.import"):
        links.append(Link("Import", "/imports/new", "⇪"))
    plugin_items: list[Any] = crm.registry.ui("nav")
    links.extend(Link(i.label, i.href, i.icon) for i in plugin_items if viewer.can(i.permission))
    if any(viewer.can(p) for p in ADMIN_PERMISSIONS):
        links.append(Link("Admin", "/admin", "⚙"))
    return links
