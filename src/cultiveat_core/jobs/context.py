"""What a job function receives: the CRM, its payload, who asked, and a progress reporter."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from cultiveat_core.db import tables
from cultiveat_core.db.metadata import utcnow
from cultiveat_core.domain import Actor

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM


class JobContext:
    def __init__(self, crm: CRM, job_id: str, name: str, payload: dict[str, Any], attempt: int,
                 created_by: int | None, lease_seconds: float) -> None:
        self.crm = crm
        self.job_id = job_id
        self.name = name
        self.payload = payload
        self.attempt = attempt
        self.created_by = created_by
        self.lease_seconds = lease_seconds

    @property
    def actor(self) -> Actor:
        """The user who queued the job (with their permissions), or the system."""
        if self.created_by is None:
            return Actor.system(f"job {self.name}")
        user = self.crm.users.get_by_id(self.created_by)
        return self.crm.users.actor_for(user)

    def progress(self, done: int, total: int | None = None, message: str | None = None) -> None:
        """Record progress (and extend the lease: a job that reports progress is alive)."""
        values: dict[str, Any] = {
            "progress_done": done,
            "updated_at": utcnow(),
            "locked_until": utcnow() + timedelta(seconds=self.lease_seconds),
        }
        if total is not None:
            values["progress_total"] = total
        if message is not None:
            values["progress_message"] = message[:500]
        jobs = tables.jobs
        with self.crm.begin() as conn:
            conn.execute(sa.update(jobs).where(jobs.c.id == self.job_id).values(**values))
