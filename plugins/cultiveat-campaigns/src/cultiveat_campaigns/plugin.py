"""Hook implementations of the campaigns plugin (entry point ``campaigns``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from cultiveat_campaigns import hookspecs as hookspecs
from cultiveat_core import (
    CRM,
    Activity,
    ActivityType,
    Contact,
    PeriodicTask,
    Permission,
    Task,
    hookimpl,
)

PERMISSIONS = [
    Permission(
        "campaigns.read",
        "See templates, campaigns and sequences",
        ("marketing", "sales", "executive"),
    ),
    Permission(
        "campaigns.manage", "Create and send any campaign, template or sequence", ("marketing",)
    ),
    Permission(
        "campaigns.send", "Send campaigns and emails to one's own contacts", ("marketing", "sales")
    ),
    Permission(
        "campaigns.analytics", "Read campaign and segment analytics", ("marketing", "executive")
    ),
]


@hookimpl
def register_settings(crm: CRM) -> list[type]:
    from cultiveat_campaigns.settings import CampaignsSettings

    return [CampaignsSettings]


@hookimpl
def register_migrations(crm: CRM) -> list[str]:
    return [str(Path(__file__).parent / "migrations" / "versions")]


@hookimpl
def register_permissions(crm: CRM) -> list[Permission]:
    return list(PERMISSIONS)


@hookimpl
def register_activity_types(crm: CRM) -> list[ActivityType]:
    return [ActivityType("campaign_added", "Campaign added", category="marketing")]


@hookimpl
def register_tasks(crm: CRM) -> list[Task]:
    from cultiveat_campaigns.tasks import TASKS

    return list(TASKS)


@hookimpl
def register_periodic_tasks(crm: CRM) -> list[PeriodicTask]:
    from cultiveat_campaigns.tasks import periodic

    return periodic(crm)


@hookimpl
def register_routes(crm: CRM) -> list[Any]:
    from cultiveat_campaigns.pages import ROUTES as PAGES
    from cultiveat_campaigns.routes import ROUTES
    from cultiveat_campaigns.tracking_routes import ROUTES as TRACKING

    return [*ROUTES, *TRACKING, *PAGES]


@hookimpl
def register_commands(crm: CRM) -> list[Any]:
    from cultiveat_campaigns.commands import campaigns_group

    return [campaigns_group]


@hookimpl
def register_ui(crm: CRM) -> list[Any]:
    from cultiveat_campaigns.ui import UI

    return list(UI)


@hookimpl
def activities_logged(crm: CRM, activities: list[Activity]) -> None:
    from cultiveat_campaigns.events import track

    track(crm, activities)


@hookimpl(optionalhook=True)
def contact_data_for_subject_access(crm: CRM, contact: Contact) -> dict[str, Any]:
    from cultiveat_campaigns.tables import enrolments, recipients

    with crm.connect() as conn:
        rec = (
            conn.execute(sa.select(recipients).where(recipients.c.contact_id == contact.id))
            .mappings()
            .all()
        )
        enr = (
            conn.execute(sa.select(enrolments).where(enrolments.c.contact_id == contact.id))
            .mappings()
            .all()
        )

    def plain(row: Any) -> dict[str, Any]:
        return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}

    return {
        "campaign_recipients": [plain(r) for r in rec],
        "sequence_enrolments": [plain(e) for e in enr],
    }


@hookimpl(optionalhook=True)
def erase_contact_data(crm: CRM, contact: Contact) -> None:
    from cultiveat_campaigns.tables import enrolments, previews, recipients

    with crm.begin() as conn:
        for table in (recipients, enrolments, previews):
            conn.execute(table.delete().where(table.c.contact_id == contact.id))
