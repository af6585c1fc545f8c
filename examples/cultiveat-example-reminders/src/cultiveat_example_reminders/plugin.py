"""Hook implementations of the ``reminders`` example plugin (entry point ``reminders``)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from cultiveat_core import CRM, ActivityType, Contact, PeriodicTask, Permission, Task, hookimpl
from cultiveat_example_reminders import hookspecs  # noqa: F401  (the loader adds these specs)

MIGRATIONS = Path(__file__).parent / "migrations" / "versions"


@hookimpl
def register_settings(crm: CRM) -> list[type]:
    from cultiveat_example_reminders.settings import RemindersSettings

    return [RemindersSettings]


@hookimpl
def register_migrations(crm: CRM) -> list[str]:
    return [str(MIGRATIONS)]


@hookimpl
def register_permissions(crm: CRM) -> list[Permission]:
    return [
        Permission("reminders.manage", "Create reminders and send due ones", ("marketing", "sales"))
    ]


@hookimpl
def register_activity_types(crm: CRM) -> list[ActivityType]:
    return [
        ActivityType(
            "reminder_due", "Reminder due", description="A reminder on the contact came due",
            category="task",
        )
    ]


@hookimpl
def register_routes(crm: CRM) -> list[Any]:
    from cultiveat_example_reminders.routes import RemindersController

    return [RemindersController]


@hookimpl
def register_tasks(crm: CRM) -> list[Task]:
    from cultiveat_example_reminders.tasks import send_due

    return [Task("reminders.send_due", send_due, max_retries=3, retry_backoff=2.0,
                 description="Send every due reminder")]


@hookimpl
def register_periodic_tasks(crm: CRM) -> list[PeriodicTask]:
    from cultiveat_example_reminders.settings import RemindersSettings

    every = timedelta(seconds=crm.plugin_settings(RemindersSettings).every_seconds)
    return [PeriodicTask("reminders.send_due.periodic", "reminders.send_due", every)]


@hookimpl
def contact_data_for_subject_access(crm: CRM, contact: Contact) -> dict[str, Any] | None:
    from cultiveat_example_reminders.service import reminders_about

    found = reminders_about(crm, contact.id)
    return {"reminders": [reminder.as_dict() for reminder in found]} if found else None


@hookimpl
def erase_contact_data(crm: CRM, contact: Contact) -> None:
    from cultiveat_example_reminders.service import erase_reminders

    erase_reminders(crm, contact.id)
