"""Hook implementations of the segments plugin (entry point ``segments``).

Registration hooks hand the core what the plugin adds; the batch events re-evaluate the
contacts a transaction touched against every dynamic segment, in the event thread for small
batches and through a ``segments.reevaluate`` job for imports.
"""

from __future__ import annotations

from typing import Any

from cultiveat_core import CRM, Activity, Contact, ContactChange, hookimpl
from cultiveat_segments import hookspecs as hookspecs


def service(crm: CRM) -> Any:
    from cultiveat_segments.service import SegmentService

    if "segments" not in crm.extensions:
        crm.extensions["segments"] = SegmentService(crm)
    return crm.extensions["segments"]


@hookimpl
def register_settings(crm: CRM) -> list[type]:
    from cultiveat_segments.settings import SegmentsSettings

    return [SegmentsSettings]


@hookimpl
def register_migrations(crm: CRM) -> list[str]:
    from pathlib import Path

    return [str(Path(__file__).parent / "migrations" / "versions")]


@hookimpl
def register_permissions(crm: CRM) -> list[Any]:
    from cultiveat_segments.permissions import PERMISSIONS

    return list(PERMISSIONS)


@hookimpl
def register_routes(crm: CRM) -> list[Any]:
    from cultiveat_segments.routes import ROUTES

    return list(ROUTES)


@hookimpl
def register_tasks(crm: CRM) -> list[Any]:
    from cultiveat_segments.tasks import TASKS

    return list(TASKS)


@hookimpl
def register_periodic_tasks(crm: CRM) -> list[Any]:
    from cultiveat_segments.tasks import periodic_tasks

    return periodic_tasks(crm)


@hookimpl
def register_commands(crm: CRM) -> list[Any]:
    from cultiveat_segments.cli import segments_group

    return [segments_group(crm)]


@hookimpl
def register_ui(crm: CRM) -> list[Any]:
    from cultiveat_segments.ui import UI

    return list(UI)


@hookimpl
def register_segment_operators(crm: CRM) -> list[Any]:
    from cultiveat_segments.operators import builtin_operators

    return builtin_operators()


@hookimpl
def contacts_created(crm: CRM, contacts: list[Contact]) -> None:
    from cultiveat_segments.events import contacts_touched

    contacts_touched(crm, [c.id for c in contacts])


@hookimpl
def contacts_updated(crm: CRM, changes: list[ContactChange]) -> None:
    from cultiveat_segments.events import contacts_touched

    contacts_touched(crm, [change.contact.id for change in changes])


@hookimpl
def activities_logged(crm: CRM, activities: list[Activity]) -> None:
    from cultiveat_segments.events import contacts_touched

    contacts_touched(crm, [a.contact_id for a in activities])


@hookimpl
def contacts_deleted(crm: CRM, contacts: list[Contact]) -> None:
    from cultiveat_segments.events import contacts_removed

    contacts_removed(crm, [c.id for c in contacts])


@hookimpl
def erase_contact_data(crm: CRM, contact: Any) -> None:
    from cultiveat_segments.privacy import erase_contact

    erase_contact(crm, contact.id)


@hookimpl
def contact_data_for_subject_access(crm: CRM, contact: Any) -> Any:
    from cultiveat_segments.privacy import subject_access

    return subject_access(crm, contact.id)
