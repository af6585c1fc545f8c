"""``/``: KPI cards, hot leads needing action, recent activity, charts and plugin widgets,
in the order each user arranged them (drag and drop, or the move buttons without JS)."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from litestar import Response
from markupsafe import Markup

from cultiveat_core.db import tables
from cultiveat_core.errors import ValidationError
from cultiveat_web import charts, kpis, layouts
from cultiveat_web.rendering import render_contribution
from cultiveat_web.routing import PageRequest, page_route, redirect

CORE_WIDGETS = (
    ("kpis", "Key figures", "contacts.read"),
    ("hot_leads", "Hot leads needing action", "contacts.read"),
    ("recent_activity", "Recent activity", "activities.read"),
    ("stages", "Contacts by stage", "contacts.read"),
    ("growth", "New contacts per month", "contacts.read"),
)
HOT_LEADS_SHOWN = 8
RECENT_SHOWN = 10


def available_widgets(req: PageRequest) -> dict[str, tuple[str, Any]]:
    """Widget name -> (label, what to render); only what the viewer may see."""
    found: dict[str, tuple[str, Any]] = {
        name: (label, None)
        for name, label, permission in CORE_WIDGETS
        if req.viewer.can(permission)
    }
    for widget in req.crm.registry.ui("dashboard_widget"):
        if req.viewer.can(widget.permission):
            found[f"plugin:{widget.name}"] = (widget.label, widget)
    return found


def hot_leads(req: PageRequest) -> list[Any]:
    """Hot leads, the ones left longest without activity first."""
    c = tables.contacts
    with req.crm.engine.connect() as conn:
        ids = (
            conn.execute(
                sa.select(c.c.id)
                .where(sa.func.lower(c.c.stage) == kpis.HOT_STAGE)
                .order_by(sa.func.coalesce(c.c.last_activity_at, c.c.created_at), c.c.id)
                .limit(HOT_LEADS_SHOWN)
            )
            .scalars()
            .all()
        )
        return req.crm.contacts.load(conn, ids)


def recent_activity(req: PageRequest) -> list[dict[str, Any]]:
    a, c = tables.activities, tables.contacts
    types = req.crm.registry.activity_types
    latest = (
        sa.select(a.c.id)
        .order_by(a.c.occurred_at.desc(), a.c.id.desc())
        .limit(RECENT_SHOWN)
        .subquery()
    )
    with req.crm.engine.connect() as conn:
        rows = (
            conn.execute(
                sa.select(
                    a.c.id, a.c.type, a.c.occurred_at, a.c.contact_id, c.c.first_name, c.c.last_name
                )
                .join(latest, latest.c.id == a.c.id)
                .join(c, c.c.id == a.c.contact_id)
                .order_by(a.c.occurred_at.desc(), a.c.id.desc())
            )
            .mappings()
            .all()
        )
    return [
        {**r, "label": types[r["type"]].label if r["type"] in types else r["type"]} for r in rows
    ]


def render_widget(req: PageRequest, name: str, widget: Any) -> Markup:
    if widget is not None:
        return render_contribution(widget, crm=req.crm, actor=req.actor, request=req.request)
    return Markup("")


@page_route("/")
def dashboard(req: PageRequest) -> Response[Any]:
    widgets = available_widgets(req)
    order = layouts.arrange(list(widgets), layouts.saved_order(req.crm, req.actor.user_id))
    data: dict[str, Any] = {}
    if "kpis" in widgets:
        data["cards"] = kpis.contact_cards(req.crm, req.actor)
    if "hot_leads" in widgets:
        data["hot_leads"] = hot_leads(req)
    if "recent_activity" in widgets:
        data["recent"] = recent_activity(req)
    if "stages" in widgets:
        data["stage_chart"] = charts.horizontal_bars(
            "Contacts by stage", kpis.stage_counts(req.crm)
        )
    if "growth" in widgets:
        data["growth_chart"] = charts.column_bars(
            "New contacts per month", kpis.new_per_month(req.crm)
        )
    rendered = {name: render_widget(req, name, widget) for name, (_, widget) in widgets.items()}
    return req.render(
        "dashboard.html", title="Dashboard", order=order, widgets=widgets, rendered=rendered, **data
    )


@page_route("/dashboard/layout", methods=("POST",))
def arrange_dashboard(req: PageRequest) -> Response[Any]:
    """Save the order: ``widgets`` (JSON list, from drag and drop) or ``widget`` + ``move``."""
    available = list(available_widgets(req))
    current = layouts.arrange(available, layouts.saved_order(req.crm, req.actor.user_id))
    raw = req.param("widgets")
    try:
        names = (
            json.loads(raw)
            if raw
            else layouts.moved(current, req.param("widget"), req.param("move"))
        )
        if not isinstance(names, list):
            raise ValueError
    except ValueError:
        return req.render(
            "error.html",
            status=400,
            title="Bad layout",
            message="widgets must be a JSON list of widget names",
        )
    try:
        layouts.save_order(req.crm, req.actor, [str(n) for n in names], available)
    except ValidationError as exc:
        return req.render("error.html", status=422, title="Bad layout", message=exc.message)
    if req.request.headers.get("x-requested-with") == "fetch":
        return Response({"widgets": names}, status_code=200)
    return redirect("/#dashboard", "Dashboard arrangement saved.")


ROUTES = [dashboard, arrange_dashboard]
