"""The core's own jobs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cultiveat_core.db import tables
from cultiveat_core.db.metadata import utcnow
from cultiveat_core.domain import PeriodicTask, Task
from cultiveat_core.jobs import JobContext
from cultiveat_core.markers import hookimpl

FINISHED_JOBS_KEPT = timedelta(days=30)


def purge_finished_jobs(ctx: JobContext) -> dict[str, Any]:
    """Delete finished job rows older than 30 days (the table stays small)."""
    j = tables.jobs
    cutoff = utcnow() - FINISHED_JOBS_KEPT
    with ctx.crm.begin() as conn:
        deleted = conn.execute(
            j.delete().where(j.c.status.in_(["done", "failed"]), j.c.updated_at < cutoff)
        ).rowcount
    return {"deleted": deleted}


@hookimpl(trylast=True)
def register_tasks() -> list[Task]:
    return [Task("core.purge_finished_jobs", purge_finished_jobs, description=purge_finished_jobs.__doc__ or "")]


@hookimpl(trylast=True)
def register_periodic_tasks() -> list[PeriodicTask]:
    return [PeriodicTask("core.purge_finished_jobs.daily", "core.purge_finished_jobs", timedelta(days=1))]


__all__ = ["purge_finished_jobs", "register_periodic_tasks", "register_tasks"]
