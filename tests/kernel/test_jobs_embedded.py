"""Jobs without a broker: the outbox row is written in the caller's transaction, runs after
the commit on the embedded runner, survives a restart, retries with backoff, records
progress, and periodic tasks are queued once per interval however many runners there are."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from kernel_plugins import person
from litestar.testing import TestClient

from cultiveat_core import Actor, PeriodicTask, Task, hookimpl
from cultiveat_core.db import tables
from cultiveat_core.db.metadata import utcnow
from cultiveat_core.errors import NotFound, ValidationError
from cultiveat_core.jobs.runner import EmbeddedRunner
from cultiveat_core.jobs.schedule import enqueue_due
from cultiveat_core.testing import token_for
from cultiveat_core.web import create_app

SYSTEM = Actor.system("tests")


class JobsPlugin:
    """Tasks that record their runs; ``fail_times`` makes ``kj.flaky`` fail that often first."""

    cultiveat_plugin_name = "kj"

    def __init__(self, fail_times: int = 0) -> None:
        self.runs: list[tuple[str, dict]] = []
        self.fail_times = fail_times
        self.ran = threading.Event()

    def record(self, ctx, **payload):
        self.runs.append((ctx.job_id, payload))
        ctx.progress(3, 4, "almost")
        self.ran.set()
        return {"seen": payload}

    def flaky(self, ctx, **payload):
        self.runs.append((ctx.job_id, {"attempt": ctx.attempt}))
        if payload.get("invalid"):
            raise ValidationError.field("invalid", "this input can never work")
        if ctx.attempt <= self.fail_times:
            raise ConnectionError(f"remote down (attempt {ctx.attempt})")
        return "ok"

    @hookimpl
    def register_tasks(self, crm):
        return [Task("kj.record", self.record),
                Task("kj.flaky", self.flaky, max_retries=2, retry_backoff=4.0)]

    @hookimpl
    def register_periodic_tasks(self, crm):
        return [PeriodicTask("kj.tick", "kj.record", timedelta(hours=1), {"source": "tick"})]


def wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def test_a_job_queued_in_a_transaction_runs_after_commit_on_the_embedded_runner(make_crm):
    plugin = JobsPlugin()
    crm = make_crm(plugins=[plugin], job_poll_seconds=30)  # only a commit can wake it quickly
    runner = EmbeddedRunner(crm, schedule=False)
    runner.start()
    try:
        with crm.transaction(SYSTEM) as uow:
            contact = crm.contacts.create(SYSTEM, person("job@example.com"), uow=uow)
            job_id = crm.jobs.enqueue("kj.record", {"contact_id": contact.id}, uow=uow)
            time.sleep(0.2)
            assert plugin.runs == []  # not before the commit
            with crm.connect() as conn:  # and invisible outside the transaction
                assert conn.execute(sa.select(tables.jobs.c.id)
                                    .where(tables.jobs.c.id == job_id)).first() is None
        assert plugin.ran.wait(10)
        wait_until(lambda: crm.jobs.get(job_id).status == "done")
    finally:
        runner.stop()
    job = crm.jobs.get(job_id)
    assert plugin.runs == [(job_id, {"contact_id": contact.id})]
    assert job.result == {"seen": {"contact_id": contact.id}}
    assert (job.progress_done, job.progress_total, job.progress_message) == (3, 4, "almost")
    assert job.as_dict()["percent"] == 75.0
    assert job.attempts == 1 and job.error is None


def test_no_job_for_a_rolled_back_transaction(make_crm):
    plugin = JobsPlugin()
    crm = make_crm(plugins=[plugin])
    with pytest.raises(RuntimeError), crm.transaction(SYSTEM) as uow:
        job_id = crm.jobs.enqueue("kj.record", {}, uow=uow)
        raise RuntimeError("rollback")
    with pytest.raises(NotFound):
        crm.jobs.get(job_id)
    assert crm.jobs.run_pending() == 0
    assert plugin.runs == []


def test_unknown_task_names_are_refused_with_the_known_ones(make_crm):
    crm = make_crm(plugins=[JobsPlugin()])
    with pytest.raises(ValidationError, match=r"unknown task 'kj\.nope'; registered tasks: .*kj\.flaky"):
        crm.jobs.enqueue("kj.nope", {})


def test_queued_jobs_survive_a_restart(make_crm):
    first = make_crm(plugins=[JobsPlugin()])
    job_id = first.jobs.enqueue("kj.record", {"n": 1})
    url = first.settings.database_url
    first.close()  # the process "dies" before any runner saw the job

    plugin = JobsPlugin()
    restarted = make_crm(plugins=[plugin], database_url=url, job_poll_seconds=0.1)
    runner = EmbeddedRunner(restarted, schedule=False)
    runner.start()
    try:
        wait_until(lambda: restarted.jobs.get(job_id).status == "done")
    finally:
        runner.stop()
    assert plugin.runs == [(job_id, {"n": 1})]


def test_a_job_whose_runner_died_is_taken_over_when_its_lease_expires(make_crm):
    plugin = JobsPlugin()
    crm = make_crm(plugins=[plugin])
    job_id = crm.jobs.enqueue("kj.record", {})
    assert crm.jobs.claim(job_id) is not None  # claimed by a runner that then crashed
    assert crm.jobs.run_pending() == 0  # its lease still holds
    with crm.begin() as conn:
        conn.execute(tables.jobs.update().values(locked_until=utcnow() - timedelta(seconds=1)))
    assert crm.jobs.run_pending() == 1
    job = crm.jobs.get(job_id)
    assert job.status == "done" and job.attempts == 2


def test_failing_jobs_retry_with_backoff_then_fail_with_the_error(make_crm):
    plugin = JobsPlugin(fail_times=10)
    crm = make_crm(plugins=[plugin])
    job_id = crm.jobs.enqueue("kj.flaky", {})

    def make_due():
        with crm.begin() as conn:
            run_at = conn.execute(sa.select(tables.jobs.c.run_at)).scalar()
            conn.execute(tables.jobs.update().values(run_at=utcnow()))
        return run_at

    assert crm.jobs.run_pending() == 1
    job = crm.jobs.get(job_id)
    assert (job.status, job.attempts) == ("queued", 1)
    assert job.error == "ConnectionError: remote down (attempt 1)"
    assert crm.jobs.run_pending() == 0  # backing off: not due yet
    backoff = make_due() - utcnow()
    assert timedelta(seconds=2) < backoff <= timedelta(seconds=4)  # retry_backoff ** 1

    assert crm.jobs.run_pending() == 1
    assert crm.jobs.get(job_id).status == "queued"
    backoff = make_due() - utcnow()
    assert timedelta(seconds=14) < backoff <= timedelta(seconds=16)  # retry_backoff ** 2

    assert crm.jobs.run_pending() == 1  # the third attempt is the last (max_retries=2)
    job = crm.jobs.get(job_id)
    assert (job.status, job.attempts) == ("failed", 3)
    assert job.error == "ConnectionError: remote down (attempt 3)"
    assert crm.jobs.run_pending() == 0
    assert [payload["attempt"] for _, payload in plugin.runs] == [1, 2, 3]


def test_a_job_refusing_its_input_fails_at_once_without_retries(make_crm):
    plugin = JobsPlugin()
    crm = make_crm(plugins=[plugin])
    job_id = crm.jobs.enqueue("kj.flaky", {"invalid": True})
    assert crm.jobs.run_pending() == 1
    job = crm.jobs.get(job_id)
    assert (job.status, job.attempts) == ("failed", 1)
    assert "this input can never work" in job.error
    assert crm.jobs.run_pending() == 0


def test_a_job_succeeding_on_retry_is_done(make_crm):
    crm = make_crm(plugins=[JobsPlugin(fail_times=1)])
    job_id = crm.jobs.enqueue("kj.flaky", {})
    crm.jobs.run_pending()
    with crm.begin() as conn:
        conn.execute(tables.jobs.update().values(run_at=utcnow()))
    crm.jobs.run_pending()
    job = crm.jobs.get(job_id)
    assert (job.status, job.attempts, job.result, job.error) == ("done", 2, "ok", None)


def test_job_status_over_http_for_its_owner_and_not_for_other_sales_users(make_crm):
    crm = make_crm(plugins=[JobsPlugin()])
    with TestClient(create_app(crm, run_jobs=False)) as owner, \
            TestClient(create_app(crm, run_jobs=False)) as other:
        owner.headers["Authorization"] = f"Bearer {token_for(crm, 'sales', 'owner@example.com')}"
        other.headers["Authorization"] = f"Bearer {token_for(crm, 'sales', 'other@example.com')}"
        asker = crm.users.actor_for(crm.users.get_by_email("owner@example.com"))
        job_id = crm.jobs.enqueue("kj.record", {"x": 1}, actor=asker)
        crm.jobs.run_pending()
        mine, theirs = owner.get(f"/api/jobs/{job_id}"), other.get(f"/api/jobs/{job_id}")
        missing = owner.get("/api/jobs/no-such-job")
    assert mine.status_code == 200, mine.text
    assert mine.json()["status"] == "done" and mine.json()["percent"] == 75.0
    assert theirs.status_code == 404
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")


def test_periodic_tasks_are_queued_once_per_interval_across_runners(make_crm):
    first = make_crm(plugins=[JobsPlugin()])
    second = make_crm(plugins=[JobsPlugin()], database_url=first.settings.database_url)
    barrier = threading.Barrier(2)
    queued: list[list[str]] = []

    def schedule(crm):
        barrier.wait()
        queued.append(enqueue_due(crm))

    threads = [threading.Thread(target=schedule, args=(c,)) for c in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    def tick_jobs():
        with first.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(tables.jobs)
                                .where(tables.jobs.c.name == "kj.record")).scalar()

    # each periodic task (kj.tick and the core's own) queued once, by one runner or the
    # other: each schedule is claimed in its own transaction
    periodic = first.registry.periodic_tasks
    assert sum(len(q) for q in queued) == len(periodic)
    with first.connect() as conn:
        per_task = dict(conn.execute(sa.select(tables.jobs.c.name, sa.func.count())
                                     .group_by(tables.jobs.c.name)).all())
    assert sum(per_task.values()) == len(periodic)
    assert per_task == {name: sum(1 for p in periodic.values() if p.task == name)
                        for name in {p.task for p in periodic.values()}}
    assert tick_jobs() == 1
    assert enqueue_due(second) == [] and enqueue_due(first) == []  # same interval: nothing
    with first.begin() as conn:  # an hour later
        conn.execute(tables.schedules.update().where(tables.schedules.c.name == "kj.tick")
                     .values(last_run_at=utcnow() - timedelta(hours=1, seconds=1)))
    assert len(enqueue_due(second)) == 1
    assert enqueue_due(first) == []
    assert tick_jobs() == 2
