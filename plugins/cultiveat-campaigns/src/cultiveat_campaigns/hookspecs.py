"""Hooks the campaigns plugin declares (exposed as ``cultiveat_campaigns.plugin.hookspecs``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cultiveat_core import hookspec

if TYPE_CHECKING:
    from cultiveat_core import CRM


@hookspec
def register_channels(crm: CRM) -> list[Any]:
    """Channels campaigns can send through (``email`` from cultiveat-email; SMS the same way).

    A channel is any object with ``name`` (unique), ``label``, ``consent_purpose`` (e.g.
    ``"email_marketing"``), ``address_field`` (the contact field holding the address, e.g.
    ``"email"``), ``batch_size`` (recipients per job) and ``send(crm, messages) -> results``.
    ``messages`` are dicts: ``key`` (idempotency key: the channel delivers each (key,
    contact_id) once; a copy interrupted by a crash is resent with the same message id),
    ``contact_id``, ``to``, ``subject``, ``text``, ``html``, ``unsubscribe_url``, ``headers``,
    ``meta`` (copied into the activities the channel logs). Each result is a dict with
    ``contact_id``, ``status`` (sent | deferred | failed | suppressed | unknown | in_progress:
    another process holds it now; call again later), ``message_id``, ``code``, ``error`` and
    ``new``. ``send`` runs inside a job.
    """
