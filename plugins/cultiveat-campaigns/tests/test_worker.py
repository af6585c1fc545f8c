"""A real Celery worker (``cultiveat worker`` in a subprocess) on Redis, plugins loaded from
their installed entry points, sending to a real aiosmtpd server."""

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from cultiveat_campaigns.tables import recipients
from cultiveat_email.tables import messages

from cultiveat_core.db import tables as core_tables
from cultiveat_core.db.metadata import utcnow

from .conftest import SYSTEM, make_contacts

REDIS_DB = 11  # this suite's own database number
pytestmark = pytest.mark.redis


def wait_for(predicate, timeout=60.0, what="condition", log_path=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    log = log_path.read_text(errors="replace")[-3000:] if log_path is not None else ""
    raise AssertionError(f"timed out waiting for {what}\n{log}")


@pytest.fixture
def broker(redis_url):
    """This suite's Redis database and a queue of this test's own: a worker of another test run
    on the same Redis (another checkout, a benchmark) never takes our jobs, nor we theirs."""
    url = redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    queue = f"cultiveat-test-{uuid.uuid4().hex[:12]}"
    yield url, queue
    redis.Redis.from_url(url).delete(queue)


@pytest.fixture
def worker_env(env, broker):
    others = sorted(ep.name for ep in entry_points(group="cultiveat") if ep.name not in ("email", "campaigns"))
    return {
        **env,
        "CULTIVEAT_BROKER_URL": broker[0],
        "CULTIVEAT_BROKER_QUEUE": broker[1],
        "CULTIVEAT_PLUGINS_BLOCK": ",".join(others),
        "CULTIVEAT_EMAIL_RETRY_ATTEMPTS": "0",
        "CULTIVEAT_JOB_POLL_SECONDS": "0.2",
        "CULTIVEAT_SECRET_KEY": "test-secret-key-" + "x" * 32,
    }


@pytest.fixture
def worker_crm(make_crm, worker_env, cultiveat_backend, request):
    backends = request.config.getoption("--cultiveat-db").split(",")
    if cultiveat_backend == "sqlite" and "postgresql" in backends:
        pytest.skip("the worker test runs once per session, on PostgreSQL (it is also configured)")
    crm = make_crm(
        load_entrypoints=True,
        environ=worker_env,
        broker_url=worker_env["CULTIVEAT_BROKER_URL"],
        broker_queue=worker_env["CULTIVEAT_BROKER_QUEUE"],
    )
    assert {"email", "campaigns"} <= {r.name for r in crm.plugin_records.values() if r.status == "loaded"}
    return crm


def _die_with_parent():  # pragma: no cover - runs in the child before exec
    """Linux: the worker gets SIGKILL when the test process dies, even if pytest itself is
    killed (no teardown): an orphaned worker would take the next run's jobs from Redis."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def start_worker(crm, worker_env, log_path):
    env = {**os.environ, **worker_env, "CULTIVEAT_DATABASE_URL": crm.settings.database_url}
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [str(Path(sys.executable).with_name("cultiveat")), "worker", "--concurrency", "2", "--pool", "threads"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )


def stop_worker(proc):
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@pytest.fixture
def worker(worker_crm, worker_env, tmp_path):
    proc = start_worker(worker_crm, worker_env, tmp_path / "worker.log")
    yield proc
    stop_worker(proc)


def test_worker_retries_451_delivers_once_and_suppresses_550(worker_crm, worker, sink, tmp_path):
    crm = worker_crm
    ann, bob, cy = make_contacts(crm, 3)
    sink.rcpt_script[ann.email] = ["451 4.7.1 greylisted"]
    sink.rcpt_script[bob.email] = ["550 5.1.1 unknown user"]
    from cultiveat_campaigns import library, service

    tid = library.create(crm, SYSTEM, {"name": "W", "subject": "Hi {first_name}", "body_text": "hello"})["id"]
    campaign = service.create(
        crm,
        SYSTEM,
        {
            "name": "Worker",
            "template_id": tid,
            "audience": {"contact_ids": [ann.id, bob.id, cy.id]},
        },
    )
    service.send(crm, SYSTEM, campaign["id"])

    wait_for(
        lambda: len(sink.to(ann.email)) == 1 and len(sink.to(cy.email)) == 1,
        90,
        "ann (after a 451 and a job retry) and cy to get their message",
        tmp_path / "worker.log",
    )
    wait_for(lambda: service.get(crm, SYSTEM, campaign["id"])["status"] == "Completed", 30, "completion")
    assert sink.to(bob.email) == []
    assert sink.rcpt_script[bob.email] == []  # 550 answered once, never retried
    with crm.connect() as conn:
        statuses = dict(conn.execute(sa.select(recipients.c.contact_id, recipients.c.status)).all())
    assert statuses == {ann.id: "sent", bob.id: "failed", cy.id: "sent"}

    # Run the same batch job again, as after a crash between sending and recording it: the
    # outbox keeps every contact at one message.
    with crm.begin() as conn:
        job_id = conn.execute(
            sa.select(core_tables.jobs.c.id).where(core_tables.jobs.c.name == "campaigns.send_batch")
        ).scalar()
        conn.execute(
            core_tables.jobs.update().where(core_tables.jobs.c.id == job_id).values(status="queued", dispatched_at=None)
        )
        conn.execute(recipients.update().values(status="queued"))
    crm.jobs.relay([job_id])
    crm.jobs.relay([job_id])
    wait_for(lambda: crm.jobs.get(job_id).status == "done", 30, "the re-run job")
    time.sleep(1)
    assert len(sink.to(ann.email)) == 1 and len(sink.to(cy.email)) == 1
    assert len({m["Message-ID"] for m in sink.to(ann.email)}) == 1


def test_sigkill_mid_send_then_restart_every_recipient_gets_one_message_id(worker_crm, worker_env, sink, tmp_path):
    """A real worker is SIGKILLed while it sends (the server answers DATA after 50 ms), then
    restarted: every recipient ends with exactly one distinct Message-ID at the server (a
    message in flight at the kill may arrive twice with the same Message-ID: the receiver
    dedupes), nobody is left without one, and the unsubscribed contact gets nothing."""
    from cultiveat_campaigns import consent, library, service

    crm = worker_crm
    env = {**worker_env, "CULTIVEAT_EMAIL_SEND_LEASE_SECONDS": "2", "CULTIVEAT_EMAIL_BATCH_SIZE": "20"}
    people = make_contacts(crm, 41, prefix="k")
    gone = people.pop()
    consent.withdraw(crm, SYSTEM, [gone.id], "email_marketing", source="test")
    sink.delay = 0.05
    tid = library.create(crm, SYSTEM, {"name": "K", "subject": "Hi {first_name}", "body_text": "hello"})["id"]
    campaign = service.create(
        crm,
        SYSTEM,
        {"name": "Kill", "template_id": tid, "audience": {"contact_ids": [p.id for p in people] + [gone.id]}},
    )
    log_path = tmp_path / "worker.log"
    proc = start_worker(crm, env, log_path)
    try:
        service.send(crm, SYSTEM, campaign["id"])
        wait_for(lambda: len(sink.messages) >= 8, 90, "the first messages", log_path)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        killed_at = len(sink.messages)
        assert killed_at < 40, "the kill came after the end: nothing was in flight"
        with crm.connect() as conn:
            in_flight = conn.execute(
                sa.select(sa.func.count()).select_from(messages).where(messages.c.status == "sending")
            ).scalar()
        assert in_flight > 0
        # The job lease (300 s) running out is what lets another worker take the dead worker's
        # jobs; here time is moved on instead of waited for.
        with crm.begin() as conn:
            conn.execute(
                core_tables.jobs.update()
                .where(core_tables.jobs.c.status == "running")
                .values(locked_until=utcnow() - timedelta(seconds=1))
            )
        proc = start_worker(crm, env, log_path)
        wait_for(
            lambda: service.get(crm, SYSTEM, campaign["id"])["status"] == "Completed",
            60,
            "completion after the restart",
            log_path,
        )
    finally:
        stop_worker(proc)
    for p in people:
        ids = {m["Message-ID"] for m in sink.to(p.email)}
        assert len(ids) == 1, (p.email, ids)
    assert sink.to(gone.email) == []
    with crm.connect() as conn:
        statuses = dict(conn.execute(sa.select(messages.c.status, sa.func.count()).group_by(messages.c.status)).all())
    assert statuses == {"sent": 40}
