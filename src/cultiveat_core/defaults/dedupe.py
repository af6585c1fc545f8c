"""Default ``match_existing_contact``: the same normalised email is the same contact."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cultiveat_core.markers import hookimpl

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM
    from cultiveat_core.domain import Contact


@hookimpl(trylast=True)
def match_existing_contact(crm: CRM, candidate: dict[str, Any]) -> Contact | None:
    email = candidate.get("email")
    if not email:
        return None
    with crm.engine.connect() as conn:
        return crm.contacts.find_by_email(conn, email)
