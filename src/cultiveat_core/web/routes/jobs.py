"""``GET /api/jobs/{id}``: a job's status, progress and result."""

from __future__ import annotations

from typing import Any

from litestar import get

from cultiveat_core.crm import CRM
from cultiveat_core.domain import Actor
from cultiveat_core.errors import NotFound


@get("/api/jobs/{job_id:str}", sync_to_thread=True, tags=["system"])
def get_job(crm: CRM, actor: Actor, job_id: str) -> dict[str, Any]:
    """Status (queued, running, done, failed), progress, result or error of a job."""
    job = crm.jobs.get(job_id)
    if job.created_by != actor.user_id and not actor.can("jobs.read"):
        raise NotFound(f"job {job_id} does not exist")
    return job.as_dict()
