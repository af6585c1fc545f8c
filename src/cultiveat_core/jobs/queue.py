"""The job table's API: enqueue (in the caller's transaction), claim, run, retry, inspect."""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from cultiveat_core.db import tables
from cultiveat_core.db.metadata import utcnow
from cultiveat_core.domain import Actor
from cultiveat_core.errors import NotFound, PermissionDenied, ValidationError
from cultiveat_core.jobs.context import JobContext
from cultiveat_core.services.audit import canonical
from cultiveat_core.services.unit_of_work import UnitOfWork, transaction

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

log = logging.getLogger("cultiveat.jobs")
j = tables.jobs
LEASE_SECONDS = 300.0
# a job raising one of these fails at once, without the task's retries
FINAL_ERRORS = (ValidationError, NotFound, PermissionDenied)


@attrs.frozen
class JobStatus:
    id: str
    name: str
    status: str
    attempts: int
    progress_done: int | None
    progress_total: int | None
    progress_message: str | None
    result: Any
    error: str | None
    created_at: datetime
    updated_at: datetime
    created_by: int | None = None

    def as_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self)
        data["created_at"] = self.created_at.isoformat()
        data["updated_at"] = self.updated_at.isoformat()
        percent = None
        if self.progress_total:
            percent = round(100 * (self.progress_done or 0) / self.progress_total, 1)
        data["percent"] = percent
        return data


class JobQueue:
    def __init__(self, crm: CRM) -> None:
        self.crm = crm
        self._celery: Any = None
        self.wakeup: Any = None  # threading.Event set by the embedded runner

    # -- asking for work ----------------------------------------------------------------------

    def enqueue(
        self,
        name: str,
        payload: Mapping[str, Any] | None = None,
        *,
        actor: Actor | None = None,
        delay: timedelta | None = None,
        uow: UnitOfWork | None = None,
    ) -> str:
        """Queue task ``name``; with ``uow`` the job exists only if that transaction commits."""
        if name not in self.crm.registry.tasks:
            raise ValidationError.field("task", f"unknown task {name!r}; registered tasks: "
                                        + ", ".join(sorted(self.crm.registry.tasks)))
        job_id = str(uuid.uuid4())
        actor = actor or (uow.actor if uow is not None else Actor.system("jobs"))
        now = utcnow()
        with transaction(self.crm, actor, uow) as work:
            work.conn.execute(j.insert().values(
                id=job_id, name=name, payload=canonical(dict(payload or {})), status="queued",
                attempts=0, run_at=now + (delay or timedelta(0)), created_by=actor.user_id,
                created_at=now, updated_at=now,
            ))
            work.on_commit(lambda: self.dispatch(job_id, delayed=delay is not None))
        return job_id

    def dispatch(self, job_id: str, *, delayed: bool = False) -> None:
        """After commit: wake the embedded runner, or relay the job to Celery."""
        if not self.crm.settings.broker_url:
            if self.wakeup is not None:
                self.wakeup.set()
            return
        if delayed:
            return  # the relay loop sends it when it is due
        self.relay([job_id])

    def relay(self, job_ids: list[str]) -> int:
        """Send queued jobs to the broker; failures stay unsent for the next relay.

        Each job is marked sent *before* it is sent, by a conditional update that only one
        relayer can win, so two relay loops (worker and beat) never both send it. A failed
        send clears the mark again. (A job sent twice anyway still runs once: ``run_job``
        claims it atomically.)
        """
        if not job_ids:
            return 0
        app = self.celery()
        sent = 0
        for job_id in job_ids:
            with self.crm.begin() as conn:
                name = conn.execute(
                    j.update()
                    .where(j.c.id == job_id, j.c.status == "queued", j.c.dispatched_at.is_(None))
                    .values(dispatched_at=utcnow())
                    .returning(j.c.name)
                ).scalar()
            if name is None:
                continue  # finished, running, or another relayer sent it
            try:
                app.send_task(name, kwargs={"job_id": job_id}, task_id=job_id)
            except Exception:
                log.exception("could not send job %s (%s) to the broker; will retry", job_id, name)
                with self.crm.begin() as conn:
                    conn.execute(j.update().where(j.c.id == job_id).values(dispatched_at=None))
                continue
            sent += 1
        return sent

    def relay_due(self) -> int:
        """Re-send what is due but unsent, and requeue jobs whose worker died (lease expired)."""
        now = utcnow()
        with self.crm.begin() as conn:
            conn.execute(
                j.update()
                .where(j.c.status == "running", j.c.locked_until < now)
                .values(status="queued", dispatched_at=None, updated_at=now)
            )
            ids = conn.execute(
                sa.select(j.c.id).where(j.c.status == "queued", j.c.dispatched_at.is_(None),
                                        j.c.run_at <= now).order_by(j.c.run_at).limit(1000)
            ).scalars().all()
        return self.relay(list(ids))

    def celery(self) -> Any:
        if self._celery is None:
            from cultiveat_core.jobs.celery_app import create_celery

            self._celery = create_celery(self.crm)
        return self._celery

    # -- inspecting ---------------------------------------------------------------------------

    def get(self, job_id: str) -> JobStatus:
        with self.crm.engine.connect() as conn:
            row = conn.execute(sa.select(j).where(j.c.id == job_id)).mappings().first()
        if row is None:
            raise NotFound(f"job {job_id} does not exist")
        return JobStatus(**{f.name: row[f.name] for f in attrs.fields(JobStatus)})

    # -- running ------------------------------------------------------------------------------

    def _claim(
        self, conn: sa.Connection, job_id: str | None, now: datetime
    ) -> Mapping[str, Any] | None:
        claimable = sa.or_(
            sa.and_(j.c.status == "queued", j.c.run_at <= now),
            sa.and_(j.c.status == "running", j.c.locked_until < now),
        )
        pick = sa.select(j.c.id).where(claimable)
        if job_id is not None:
            pick = pick.where(j.c.id == job_id)
        pick = pick.order_by(j.c.run_at).limit(1)
        if conn.dialect.name == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        lease = now + timedelta(seconds=LEASE_SECONDS)
        row = conn.execute(
            j.update()
            .where(j.c.id == pick.scalar_subquery())
            .values(status="running", attempts=j.c.attempts + 1, locked_until=lease, updated_at=now)
            .returning(j)
        ).mappings().first()
        return dict(row) if row is not None else None

    def claim(self, job_id: str | None = None) -> Mapping[str, Any] | None:
        with self.crm.begin() as conn:
            return self._claim(conn, job_id, utcnow())

    def run_job(self, job_id: str) -> bool:
        """Claim ``job_id`` and run it; False when it is finished, not due, or taken elsewhere."""
        row = self.claim(job_id)
        if row is None:
            return False
        self._execute(row)
        return True

    def run_pending(self, limit: int | None = None) -> int:
        """Run due jobs in this thread until none is left (the embedded runner and tests use it)."""
        count = 0
        while limit is None or count < limit:
            row = self.claim()
            if row is None:
                break
            self._execute(row)
            count += 1
        return count

    def _execute(self, row: Mapping[str, Any]) -> None:
        task = self.crm.registry.tasks.get(row["name"])
        if task is None:
            self._finish(row, "failed",
                         error=f"no plugin registers task {row['name']!r} in this process")
            return
        ctx = JobContext(self.crm, row["id"], row["name"], dict(row["payload"] or {}),
                         row["attempts"], row["created_by"], LEASE_SECONDS)
        try:
            result = task.func(ctx, **ctx.payload)
        except Exception as exc:
            error = "".join(traceback.format_exception_only(exc)).strip()
            if isinstance(exc, FINAL_ERRORS):
                # wrong input, a missing object or a refused permission: another attempt
                # would get the same answer, so the job fails now with it
                log.error("job %s (%s) failed: %s", row["id"], row["name"], error)
                self._finish(row, "failed", error=error)
            elif row["attempts"] <= task.max_retries:
                backoff = timedelta(seconds=task.retry_backoff ** row["attempts"])
                log.warning("job %s (%s) failed on attempt %s, retrying in %s: %s",
                            row["id"], row["name"], row["attempts"], backoff, error)
                self._finish(row, "queued", error=error, run_at=utcnow() + backoff)
            else:
                log.error("job %s (%s) failed for good: %s", row["id"], row["name"], error)
                self._finish(row, "failed", error=error)
            return
        self._finish(row, "done", result=canonical(result))

    def _finish(self, row: Mapping[str, Any], status: str, *, result: Any = None,
                error: str | None = None, run_at: datetime | None = None) -> None:
        """Record the outcome of the attempt ``row`` claimed.

        Only while that attempt still holds the job: when its lease ran out and another
        runner claimed the job meanwhile, that runner's outcome is the one kept.
        """
        values: dict[str, Any] = {"status": status, "result": result, "error": error,
                                  "locked_until": None, "updated_at": utcnow()}
        if run_at is not None:
            values.update(run_at=run_at, dispatched_at=None)
        with self.crm.begin() as conn:
            updated = conn.execute(
                j.update()
                .where(j.c.id == row["id"], j.c.status == "running",
                       j.c.attempts == row["attempts"])
                .values(**values)
            ).rowcount
        if not updated:
            log.warning("job %s (%s): attempt %s finished after another runner took it over; "
                        "its outcome (%s) is not recorded", row["id"], row["name"],
                        row["attempts"], status)
