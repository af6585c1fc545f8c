"""Hooks this plugin declares for other plugins (the loader adds them: ``plugin.hookspecs``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cultiveat_core import hookspec

if TYPE_CHECKING:
    from cultiveat_core import CRM
    from cultiveat_example_reminders.domain import Reminder


@hookspec
def reminders_sent(crm: CRM, reminders: list[Reminder]) -> None:
    """Event, after commit: ``reminders`` came due and were sent (one call per batch)."""
