"""What every command shares: the CRM (built once, with every plugin loaded)."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click

from cultiveat_core.crm import CRM
from cultiveat_core.domain import Actor
from cultiveat_core.errors import CultiveatError


def get_crm(ctx: click.Context | None = None) -> CRM:
    ctx = ctx or click.get_current_context()
    crm = ctx.find_root().obj
    assert isinstance(crm, CRM)
    return crm


def cli_actor(reason: str = "cli") -> Actor:
    """The CLI acts as the system: whoever can run it can read the database anyway."""
    return Actor.system(reason)


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def require_migrated(crm: CRM) -> None:
    problem = crm.migration_problem()
    if problem is not None:
        fail(f"the database is not migrated ({problem}); run `cultiveat db upgrade` first")


def run_service(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except CultiveatError as exc:
        details = getattr(exc, "errors", None)
        message = "; ".join(f"{e.field}: {e.message}" for e in details) if details else exc.message
        fail(message)
