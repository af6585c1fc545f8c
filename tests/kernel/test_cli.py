"""The real ``cultiveat`` command in a subprocess: strict mode, ``plugins --json``, plugin
commands, ``db upgrade``/``db status``, and ``serve`` refusing an unmigrated database."""

from __future__ import annotations

import json
import socket
import subprocess
import time

import httpx
import sqlalchemy as sa
from conftest import CLI, CLI_TIMEOUT, run_cli, run_cli_many
from kernel_plugins import FAILS_AT_IMPORT, GOOD, PRINTS_AT_IMPORT, add_with_table, render

from cultiveat_core import create_crm
from cultiveat_core.db import migrate
from cultiveat_core.db.engine import create_db_engine
from cultiveat_core.settings import Settings

BROKEN_ERROR = "plugin 'kbroken' failed: RuntimeError: kbroken cannot start: missing licence file"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_strict_mode_makes_every_command_refuse_to_start(plugin_dir, tmp_path):
    plugin_dir.add("kbroken", render(FAILS_AT_IMPORT, "kbroken"))
    env = plugin_dir.env(CULTIVEAT_PLUGINS_STRICT="1",
                         CULTIVEAT_DATABASE_URL=f"sqlite:///{tmp_path / 'strict.db'}")
    commands = [["serve", "--port", str(free_port())], ["worker"], ["beat", "--once"],
                ["db", "upgrade"], ["plugins", "--json"]]
    for args, result in zip(commands, run_cli_many(commands, env), strict=True):
        assert result.returncode == 2, (args, result.stderr)
        assert f"error: {BROKEN_ERROR}" in result.stderr, args
        assert result.stdout == "", args
    assert not (tmp_path / "strict.db").exists() or (tmp_path / "strict.db").stat().st_size == 0


def test_plugins_json_prints_only_json_and_plugin_commands_run(plugin_dir, tmp_path):
    plugin_dir.add("kgood", render(GOOD, "kgood"))
    plugin_dir.add("kbroken", render(FAILS_AT_IMPORT, "kbroken"))
    plugin_dir.add("kprint", render(PRINTS_AT_IMPORT, "kprint"))
    plugin_dir.add("kblocked", render(FAILS_AT_IMPORT, "kblocked"))
    env = plugin_dir.env(CULTIVEAT_DATABASE_URL=f"sqlite:///{tmp_path / 'p.db'}")
    env["CULTIVEAT_PLUGINS_BLOCK"] += ",kblocked"
    listed, hello = run_cli_many([["plugins", "--json"], ["kgood-hello"]], env)

    assert listed.returncode == 0, listed.stderr
    report = {r["name"]: r for r in json.loads(listed.stdout)}  # stdout is JSON and only JSON
    assert report["kgood"]["status"] == "loaded"
    assert report["kgood"]["distribution"] == plugin_dir.distribution("kgood")
    assert report["kgood"]["version"] == "1.0"
    assert "register_routes" in report["kgood"]["hooks"]
    assert report["kbroken"]["status"] == "failed"
    assert report["kbroken"]["error"] == "RuntimeError: kbroken cannot start: missing licence file"
    assert report["kblocked"]["status"] == "blocked"
    assert report["kprint"]["status"] == "loaded"
    # logs and a plugin's own prints went to standard error
    assert "plugin kbroken failed to load" in listed.stderr
    assert "kprint says hello while importing" in listed.stderr

    assert hello.returncode == 0, hello.stderr
    assert hello.stdout.strip() == "hello from kgood"


def test_db_upgrade_from_empty_migrates_core_and_plugin_branches(make_crm, plugin_dir):
    add_with_table(plugin_dir, "kt")
    url = make_crm(migrate=False).settings.database_url  # an empty database on this backend
    env = plugin_dir.env(CULTIVEAT_DATABASE_URL=url, CULTIVEAT_JOB_POLL_SECONDS="0.2")
    port = free_port()

    status, serve = run_cli_many([["db", "status"], ["serve", "--port", str(port)]], env)
    assert status.returncode == 1
    assert status.stdout.strip() == "pending: no migrations applied"
    assert serve.returncode == 1
    assert "the database is not migrated (no migrations applied); run `cultiveat db upgrade` " \
        "first" in serve.stderr

    upgraded = run_cli(["db", "upgrade"], env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "database is up to date" in upgraded.stderr
    engine = create_db_engine(url)
    try:
        tables = set(sa.inspect(engine).get_table_names())
        assert {"core_contacts", "core_jobs", "kt_notes"} <= tables
        assert "kt_0001" in migrate.current_heads(engine)
    finally:
        engine.dispose()

    # `serve` now serves, and (no broker) runs queued jobs itself
    server = subprocess.Popen([*CLI, "serve", "--port", str(port)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        health = _wait_for_health(port, server)
        assert health["status"] == "ok"
        assert health["migrations"] == "current"
        assert health["broker"] == "embedded"
        queued = create_crm(Settings(database_url=url, plugins_block=plugin_dir.block()))
        try:
            assert queued.migration_problem() is None
            job_id = queued.jobs.enqueue("kt.write_note", {"text": "from serve"})
            job = _wait_for_job(queued, job_id)
            assert job.status == "done", job
            assert job.result == {"text": "from serve"}
        finally:
            queued.close()
    finally:
        server.terminate()
        try:
            server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate()


def _wait_for_health(port, server, timeout=CLI_TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"serve exited: {server.communicate()[1]}")
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
            assert response.status_code == 200, response.text
            return response.json()
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("serve did not answer /health in time")


def _wait_for_job(crm, job_id, timeout=60.0):
    deadline = time.monotonic() + timeout
    job = crm.jobs.get(job_id)
    while job.status in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.1)
        job = crm.jobs.get(job_id)
    return job
