"""What the route and the CLI share: the greeting for a contact, and waving at one."""

from __future__ import annotations

from cultiveat_core import CRM, Activity, Actor, Contact
from cultiveat_example_hello.settings import HelloSettings


def greeting_for(crm: CRM, contact: Contact) -> str:
    settings = crm.plugin_settings(HelloSettings)
    return f"{settings.greeting}, {contact.full_name}!"


def greet(crm: CRM, actor: Actor, contact_id: int) -> str:
    """The greeting for contact ``contact_id`` (the contacts service checks ``contacts.read``)."""
    return greeting_for(crm, crm.contacts.get(actor, contact_id))


def wave(crm: CRM, actor: Actor, contact_id: int, message: str = "") -> Activity:
    """Log a ``hello_waved`` activity (the activities service checks ``activities.log``)."""
    return crm.activities.log(actor, contact_id, "hello_waved", data={"message": message})
