"""The email channel as the campaigns plugin's ``register_channels`` hook expects it.

Duck-typed on purpose (no import of the campaigns plugin): ``name``, ``label``,
``consent_purpose``, ``address_field``, ``batch_size`` and ``send(crm, messages)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cultiveat_core import CRM
from cultiveat_email.delivery import service


class EmailChannel:
    name = "email"
    label = "Email"
    consent_purpose = "email_marketing"
    address_field = "email"

    def __init__(self, batch_size: int = 200, sender_email: str = "") -> None:
        self.batch_size = batch_size
        self.sender_email = sender_email

    def send(self, crm: CRM, messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Deliver ``messages`` (dicts: key, contact_id, to, subject, text, html, unsubscribe_url,
        headers, meta); one result dict per message with ``status`` sent | deferred | failed |
        suppressed | unknown | in_progress (another process holds it: its claim lease is
        running; after the lease it is resent with the same Message-ID) and ``new`` (changed by
        this call)."""
        return service(crm).deliver(messages)
