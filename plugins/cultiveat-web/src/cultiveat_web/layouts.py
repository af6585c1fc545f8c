"""Each user's dashboard arrangement: which widgets, in which order (``web_dashboard_layouts``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import sqlalchemy as sa

from cultiveat_core.db.metadata import utcnow
from cultiveat_core.domain import Actor
from cultiveat_core.errors import ValidationError
from cultiveat_web.tables import dashboard_layouts

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

MAX_WIDGETS = 100


def saved_order(crm: CRM, user_id: int | None) -> list[str]:
    if user_id is None:
        return []
    with crm.engine.connect() as conn:
        found = conn.execute(
            sa.select(dashboard_layouts.c.widgets).where(dashboard_layouts.c.user_id == user_id)
        ).scalar()
    return [str(n) for n in found or []]


def arrange(available: Sequence[str], saved: Sequence[str]) -> list[str]:
    """Saved order first (names no longer available dropped), new widgets after it."""
    known = set(available)
    ordered = [n for n in dict.fromkeys(saved) if n in known]
    return ordered + [n for n in available if n not in ordered]


def save_order(crm: CRM, actor: Actor, names: Sequence[str], available: Sequence[str]) -> list[str]:
    """Store the actor's own arrangement (audited); unknown widget names are refused."""
    if actor.user_id is None:
        raise ValidationError.field("widgets", "only a signed-in user has a dashboard to arrange")
    unknown = [n for n in names if n not in set(available)]
    if unknown or len(names) > MAX_WIDGETS:
        raise ValidationError.field(
            "widgets", f"unknown widgets {unknown}; known: {', '.join(available)}"
        )
    order = arrange(available, names)
    table = dashboard_layouts
    with crm.transaction(actor) as uow:
        updated = uow.conn.execute(
            table.update()
            .where(table.c.user_id == actor.user_id)
            .values(widgets=order, updated_at=utcnow())
        ).rowcount
        if not updated:
            uow.conn.execute(
                table.insert().values(user_id=actor.user_id, widgets=order, updated_at=utcnow())
            )
        uow.audit("web.dashboard.arrange", "user", actor.user_id, {"widgets": order})
    return order


def moved(order: Sequence[str], name: str, direction: str) -> list[str]:
    """``order`` with ``name`` moved one place up or down (the keyboard/no-JS arrangement)."""
    items = list(order)
    if name not in items:
        return items
    index = items.index(name)
    target = index - 1 if direction == "up" else index + 1
    if 0 <= target < len(items):
        items[index], items[target] = items[target], items[index]
    return items
