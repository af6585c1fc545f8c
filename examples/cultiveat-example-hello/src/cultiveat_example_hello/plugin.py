"""Hook implementations of the ``hello`` example plugin (entry point ``hello``).

Registration hooks hand the core what the plugin adds; ``contact_created`` runs after each
contact's transaction commits and appends a line to ``CULTIVEAT_HELLO_LOG_PATH``.
"""

from __future__ import annotations

from typing import Any

from cultiveat_core import CRM, ActivityType, Contact, hookimpl


@hookimpl
def register_settings(crm: CRM) -> list[type]:
    from cultiveat_example_hello.settings import HelloSettings

    return [HelloSettings]


@hookimpl
def register_routes(crm: CRM) -> list[Any]:
    from cultiveat_example_hello.routes import ROUTES

    return list(ROUTES)


@hookimpl
def register_activity_types(crm: CRM) -> list[ActivityType]:
    from cultiveat_example_hello.activities import HELLO_WAVED

    return [HELLO_WAVED]


@hookimpl
def register_commands(crm: CRM) -> list[Any]:
    from cultiveat_example_hello.commands import hello_group

    return [hello_group(crm)]


@hookimpl
def contact_created(crm: CRM, contact: Contact) -> None:
    from cultiveat_example_hello import journal
    from cultiveat_example_hello.settings import HelloSettings

    journal.append(crm.plugin_settings(HelloSettings).log_path, journal.contact_line(contact))


@hookimpl
def contact_data_for_subject_access(crm: CRM, contact: Contact) -> dict[str, Any] | None:
    from cultiveat_example_hello import journal
    from cultiveat_example_hello.settings import HelloSettings

    lines = journal.about(crm.plugin_settings(HelloSettings).log_path, contact.id)
    return {"log_lines": lines} if lines else None


@hookimpl
def erase_contact_data(crm: CRM, contact: Contact) -> None:
    from cultiveat_example_hello import journal
    from cultiveat_example_hello.settings import HelloSettings

    journal.forget(crm.plugin_settings(HelloSettings).log_path, contact.id)
