"""The core's commands: serve, worker, beat, db, users, tokens, jobs, demo."""

from __future__ import annotations

import json
import time
from typing import Any, TypeVar

import click

from cultiveat_core.cli.context import cli_actor, get_crm, require_migrated, run_service

CORE_COMMANDS: list[click.Command] = []


C = TypeVar("C", bound=click.Command)


def core(command: C) -> C:
    CORE_COMMANDS.append(command)
    return command


@core
@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="server processes")
@click.option("--demo", is_flag=True,
              help="migrate and load demo data first (an empty database only)")
@click.option("--open-browser", is_flag=True, help="open the browser once the server is up")
def serve(host: str, port: int, workers: int, demo: bool, open_browser: bool) -> None:
    """Run the web app (and, without a broker, the embedded job runner)."""
    import uvicorn

    crm = get_crm()
    if demo:
        crm.upgrade_database()
        _load_demo_if_empty(crm)
        _demo_admin(crm)
    require_migrated(crm)
    if open_browser:
        import threading
        import webbrowser

        threading.Timer(1.5, webbrowser.open, args=(f"http://{host}:{port}/",)).start()
    click.echo(f"Cultiveat on http://{host}:{port}/ (API schema at /schema)", err=True)
    if workers > 1:
        uvicorn.run("cultiveat_core.web:asgi_app", factory=True, host=host, port=port,
                    workers=workers,
                    log_level="info")
        return
    from cultiveat_core.web import create_app

    uvicorn.run(create_app(crm), host=host, port=port, log_level="info")


DEMO_ADMIN = "admin@cultiveat.example"


def _demo_admin(crm: Any) -> None:
    """The demo's admin account, with a fresh random password printed at every start."""
    import secrets

    from cultiveat_core.errors import NotFound

    password = secrets.token_urlsafe(12)
    actor = cli_actor()
    try:
        user = crm.users.get_by_email(DEMO_ADMIN)
        crm.auth.set_password(actor, user.id, password)
    except NotFound:
        crm.users.create(actor, DEMO_ADMIN, "admin", name="Demo admin", password=password)
    click.echo(f"sign in as {DEMO_ADMIN} with the one-time password {password} "
               "(set up two-step verification at the first sign-in)", err=True)


def _load_demo_if_empty(crm: Any) -> None:
    import sqlalchemy as sa

    from cultiveat_core.db import tables
    from cultiveat_core.demo import load_demo

    with crm.engine.connect() as conn:
        has_contacts = conn.execute(sa.select(tables.contacts.c.id).limit(1)).first() is not None
    if not has_contacts:
        click.echo("loading demo data...", err=True)
        click.echo(f"demo data: {load_demo(crm)}", err=True)


@core
@click.command()
@click.option("--concurrency", "-c", default=4, show_default=True, type=int)
@click.option("--pool", default="threads", show_default=True,
              type=click.Choice(["threads", "prefork", "solo"]))
def worker(concurrency: int, pool: str) -> None:
    """Run a Celery worker (needs CULTIVEAT_BROKER_URL), or the embedded runner without one."""
    crm = get_crm()
    require_migrated(crm)
    if not crm.settings.broker_url:
        from cultiveat_core.jobs.runner import EmbeddedRunner

        click.echo("no CULTIVEAT_BROKER_URL: running the embedded job runner", err=True)
        runner = EmbeddedRunner(crm)
        runner.start()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            runner.stop()
        return
    import threading

    stop = threading.Event()

    def relay_loop() -> None:
        while not stop.wait(crm.settings.job_poll_seconds * 5):
            try:
                crm.jobs.relay_due()
            except Exception as exc:  # keep relaying; the broker may come back
                click.echo(f"relay error: {exc}", err=True)

    threading.Thread(target=relay_loop, daemon=True, name="cultiveat-relay").start()
    app = crm.jobs.celery()
    try:
        app.worker_main(["worker", f"--concurrency={concurrency}", f"--pool={pool}",
                         "--loglevel=INFO",
                         "--without-gossip", "--without-mingle"])
    finally:
        stop.set()


@core
@click.command()
@click.option("--once", is_flag=True, help="schedule and relay once, then exit")
def beat(once: bool) -> None:
    """Queue periodic tasks when due and relay queued jobs to the broker."""
    from cultiveat_core.jobs.schedule import enqueue_due

    crm = get_crm()
    require_migrated(crm)
    while True:
        queued = enqueue_due(crm)
        relayed = crm.jobs.relay_due() if crm.settings.broker_url else 0
        if queued or relayed:
            click.echo(f"scheduled {len(queued)}, relayed {relayed}", err=True)
        if once:
            return
        time.sleep(crm.settings.job_poll_seconds * 5)


@core
@click.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Migrate the core and every loaded plugin to their latest revisions."""
    crm = get_crm()
    crm.upgrade_database()
    click.echo("database is up to date", err=True)


@db.command("status")
def db_status() -> None:
    """Say whether migrations are pending."""
    crm = get_crm()
    problem = crm.migration_problem()
    click.echo("database is up to date" if problem is None else f"pending: {problem}")
    if problem is not None:
        raise SystemExit(1)


@core
@click.group()
def jobs() -> None:
    """Background jobs."""


@jobs.command("run")
def jobs_run() -> None:
    """Run every due job now, in this process, then exit."""
    crm = get_crm()
    require_migrated(crm)
    click.echo(f"ran {crm.jobs.run_pending()} job(s)", err=True)


@jobs.command("status")
@click.argument("job_id")
def jobs_status(job_id: str) -> None:
    """Print a job's status as JSON."""
    crm = get_crm()
    click.echo(json.dumps(run_service(crm.jobs.get, job_id).as_dict(), indent=2))


@core
@click.command()
@click.option("--contacts", "count", default=3000, show_default=True,
              help="synthetic contacts to add")
def demo(count: int) -> None:
    """Load demo data: seed 003's sample contacts and synthetic ones with activities."""
    from cultiveat_core.demo import load_demo

    crm = get_crm()
    require_migrated(crm)
    click.echo(json.dumps(load_demo(crm, count)))


# users, tokens, audit, keys, backup: cli/identity.py and cli/backup.py (issue 5)
from cultiveat_core.cli import identity as _identity  # noqa: E402, F401
