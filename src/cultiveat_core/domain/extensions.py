"""Extension points of the contact list, search, export and KPIs that plugins fill.

A plugin that stores per-contact values (a score, a segment count) exposes them as a
``ContactField``: an SQL expression over the contacts table that the core's list, filters,
sort, export and segment rules use without knowing the plugin. A ``Kpi`` adds a dashboard
figure computed from indexes or counters, never by loading every contact.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

SQLExpression = Callable[[Any], Any]  # (contacts table) -> SQLAlchemy column expression


@attrs.frozen(kw_only=True)
class ContactField:
    """A computed, filterable, sortable field; ``expression(contacts)`` is a scalar SQL expression.

    ``type`` is one of "number", "text", "date", "bool". ``permission`` hides the field (in the
    list, exports and filters) from actors without it.
    """

    name: str
    label: str
    expression: SQLExpression = attrs.field(eq=False)
    type: str = "number"
    permission: str | None = None
    description: str = ""


@attrs.frozen(kw_only=True)
class Kpi:
    """A dashboard figure: ``compute(crm=, conn=, actor=)`` returns a JSON value."""

    name: str
    label: str
    compute: Callable[..., Any] = attrs.field(eq=False)
    permission: str | None = None
    order: int = 100
