"""``cultiveat backup`` and ``cultiveat restore`` (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cultiveat_core.cli.commands import CORE_COMMANDS
from cultiveat_core.cli.context import fail, get_crm, run_service


@click.command("backup")
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--verify/--no-verify",
    default=True,
    show_default=True,
    help="restore into a scratch database and compare row counts",
)
def backup_command(target: Path, verify: bool) -> None:
    """Back up the database to TARGET (plus TARGET.json, its manifest)."""
    from cultiveat_core import backup

    crm = get_crm()
    manifest = run_service(backup.backup, crm.engine, target)
    click.echo(
        f"backup written to {target}: {len(manifest['tables'])} tables, "
        f"{sum(manifest['tables'].values())} rows",
        err=True,
    )
    if verify:
        result = run_service(backup.verify, crm.engine, target)
        if not result["ok"]:
            fail(f"verification FAILED: {json.dumps(result['differences'])}")
        click.echo(
            f"verified: restored {result['rows']} rows in {result['tables']} tables", err=True
        )


@click.command("restore")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
@click.option("--verify-only", is_flag=True, help="only check SOURCE in a scratch database")
def restore_command(source: Path, yes: bool, verify_only: bool) -> None:
    """Replace the database's content with the backup SOURCE (stop the app first)."""
    from cultiveat_core import backup

    crm = get_crm()
    result = run_service(backup.verify, crm.engine, source)
    if not result["ok"]:
        fail(f"the backup does not restore cleanly: {json.dumps(result['differences'])}")
    if verify_only:
        click.echo(f"backup OK: {result['rows']} rows in {result['tables']} tables")
        return
    if not yes:
        click.confirm("This replaces every row of the current database. Continue?", abort=True)
    restored = run_service(backup.restore, crm.engine, source)
    if not restored["ok"]:
        fail("restored, but row counts differ from the manifest")
    click.echo(f"restored {restored['rows']} rows in {restored['tables']} tables")


CORE_COMMANDS.extend([backup_command, restore_command])
