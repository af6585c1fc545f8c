"""The core's privacy behaviour as a built-in plugin: retention job, tombstone consent."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from cultiveat_core.domain import PeriodicTask, Task
from cultiveat_core.markers import hookimpl
from cultiveat_core.privacy.retention import run_retention
from cultiveat_core.privacy.tombstones import refuse_consent_for_returning

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM


def purge_sessions(ctx: Any) -> dict[str, int]:
    """Delete expired, idle and revoked sessions and old login failures."""
    return {"deleted": ctx.crm.sessions.purge_expired()}


@hookimpl(trylast=True)
def register_tasks() -> list[Task]:
    return [
        Task("core.privacy_retention", run_retention, description=run_retention.__doc__ or ""),
        Task("core.purge_sessions", purge_sessions, description=purge_sessions.__doc__ or ""),
    ]


@hookimpl(trylast=True)
def register_periodic_tasks() -> list[PeriodicTask]:
    return [
        PeriodicTask("core.privacy_retention.daily", "core.privacy_retention", timedelta(days=1)),
        PeriodicTask("core.purge_sessions.hourly", "core.purge_sessions", timedelta(hours=1)),
    ]


@hookimpl(trylast=True)
def contacts_created(crm: CRM, contacts: list[Any]) -> None:
    refuse_consent_for_returning(crm, [(c.id, c.email) for c in contacts])
