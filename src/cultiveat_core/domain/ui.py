"""UI contributions a plugin hands to the web UI through ``register_ui``.

Each has a unique ``name``; ``permission`` (optional) hides it from actors without it;
``order`` sorts it among its kind. Renderers receive keyword arguments and return HTML
(trusted markup built from escaped values) or a template name plus context.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

Renderer = Callable[..., Any]


@attrs.frozen(kw_only=True)
class UIContribution:
    name: str
    label: str
    permission: str | None = None
    order: int = 100

    kind = "ui"


@attrs.frozen(kw_only=True)
class NavItem(UIContribution):
    href: str
    icon: str = ""
    kind = "nav"


@attrs.frozen(kw_only=True)
class ContactTab(UIContribution):
    """A tab on the contact page; ``render(crm=, actor=, contact=, request=)`` returns HTML."""

    render: Renderer = attrs.field(eq=False)
    icon: str = ""
    kind = "contact_tab"


@attrs.frozen(kw_only=True)
class ContactPanel(UIContribution):
    """A panel beside the contact header (e.g. a hot-lead alert); ``render(crm=, actor=,
    contact=, request=)`` returns HTML, or an empty string when it has nothing to show."""

    render: Renderer = attrs.field(eq=False)
    kind = "contact_panel"


@attrs.frozen(kw_only=True)
class DashboardWidget(UIContribution):
    render: Renderer = attrs.field(eq=False)
    kind = "dashboard_widget"


@attrs.frozen(kw_only=True)
class QuickAction(UIContribution):
    """A button on the contact page; ``href`` may contain ``{contact_id}``."""

    href: str
    method: str = "get"
    icon: str = ""
    kind = "quick_action"


@attrs.frozen(kw_only=True)
class BulkAction(UIContribution):
    """An action on selected contacts in the list: POST ``href`` with ``contact_ids``."""

    href: str
    kind = "bulk_action"


@attrs.frozen(kw_only=True)
class ListColumn(UIContribution):
    """A column of the contacts list: ``value(crm=, contact_ids=)`` returns {id: html}."""

    value: Renderer = attrs.field(eq=False)
    sort_key: str | None = None
    kind = "list_column"
