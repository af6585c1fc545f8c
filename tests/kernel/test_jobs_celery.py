"""Jobs through Redis and a real ``cultiveat worker`` process (Celery): the worker loads the
test plugin from its entry point, runs the job, a duplicate message does not run it twice,
and a job committed without being sent (a crash before the relay) is relayed and run."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
from conftest import CLI, CLI_TIMEOUT
from kernel_plugins import add_with_table

from cultiveat_core import Actor, create_crm
from cultiveat_core.settings import Settings

SYSTEM = Actor.system("tests")


def broker_for_this_run(redis_url: str) -> str:
    """A Redis database number of its own for this test run (1-15; 0 is the default)."""
    base = redis_url.rsplit("/", 1)[0]
    return f"{base}/{1 + os.getpid() % 15}"


def wait_for(predicate, timeout, what, worker=None, log=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if worker is not None and worker.poll() is not None:
            raise AssertionError(f"worker exited ({worker.returncode}): {log.read_text()[-3000:]}")
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen in {timeout}s; worker log:\n"
                         f"{log.read_text()[-3000:] if log else ''}")


def test_jobs_run_once_on_a_real_celery_worker(make_crm, plugin_dir, redis_url, tmp_path):
    add_with_table(plugin_dir, "kc")
    broker = broker_for_this_run(redis_url)
    queue = f"cultiveat-test-{uuid.uuid4().hex[:8]}"  # no other worker on this Redis takes ours
    crm = make_crm(load_entrypoints=True, plugins_block=plugin_dir.block(), broker_url=broker,
                   broker_queue=queue)
    url = crm.settings.database_url
    runs = tmp_path / "runs.txt"
    log = tmp_path / "worker.log"
    env = plugin_dir.env(CULTIVEAT_DATABASE_URL=url, CULTIVEAT_BROKER_URL=broker,
                         CULTIVEAT_BROKER_QUEUE=queue, CULTIVEAT_JOB_POLL_SECONDS="0.2")
    with log.open("w") as out:
        worker = subprocess.Popen([*CLI, "worker", "--pool", "solo", "--concurrency", "1"],
                                  env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        # 1. queued in a transaction, relayed to Redis after the commit, run by the worker
        with crm.transaction(SYSTEM) as uow:
            first = crm.jobs.enqueue("kc.write_note", {"text": "one", "path": str(runs)}, uow=uow)
        assert crm.jobs.get(first).status == "queued"
        wait_for(lambda: crm.jobs.get(first).status == "done", CLI_TIMEOUT, "the first job",
                 worker, log)
        done = crm.jobs.get(first)
        assert done.result == {"text": "one"}
        assert (done.attempts, done.progress_message) == (1, "written")

        # 2. the same message delivered again (a redelivery): claimed as finished, not run
        crm.jobs.celery().send_task("kc.write_note", kwargs={"job_id": first}, task_id=first)
        wait_for(lambda: log.read_text().count(f"[{first}] succeeded") >= 2, 60,
                 "the duplicate delivery", worker, log)

        # 3. committed but never sent (no broker in that process, as after a crash between
        #    commit and relay): the worker's relay loop finds it and sends it
        unsent = create_crm(Settings(database_url=url, plugins_block=plugin_dir.block()))
        try:
            second = unsent.jobs.enqueue("kc.write_note", {"text": "two", "path": str(runs)})
        finally:
            unsent.close()
        with crm.connect() as conn:
            jobs = sa.table("core_jobs", sa.column("id"), sa.column("dispatched_at"))
            assert conn.execute(sa.select(jobs.c.dispatched_at)
                                .where(jobs.c.id == second)).scalar() is None
        wait_for(lambda: crm.jobs.get(second).status == "done", 60, "the relayed job",
                 worker, log)
    finally:
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()

    assert Path(runs).read_text().split() == [first, second]  # each job ran exactly once
    with crm.connect() as conn:
        notes = conn.execute(sa.text("SELECT job_id, text FROM kc_notes ORDER BY id")).all()
    assert [tuple(n) for n in notes] == [(first, "one"), (second, "two")]
