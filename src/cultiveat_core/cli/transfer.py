"""``cultiveat import contacts`` and ``cultiveat export contacts``."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from cultiveat_core.cli.context import cli_actor, fail, get_crm, require_migrated
from cultiveat_core.errors import CultiveatError, ValidationError


@click.group("import")
def import_group() -> None:
    """Import data from files."""


@import_group.command("contacts")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--source",
    default="auto",
    show_default=True,
    help="auto, hubspot, salesforce, pipedrive, google, generic (or a plugin's mapper)",
)
@click.option(
    "--mapping",
    type=click.Path(exists=True, dir_okay=False),
    help='JSON file {"Column header": "field"} for columns not recognised',
)
@click.option(
    "--on-duplicate",
    type=click.Choice(["skip", "update", "merge"]),
    default="skip",
    show_default=True,
)
@click.option("--dry-run", is_flag=True, help="check and count everything, write nothing")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object with the result")
@click.option(
    "--resume", "resume_id", default=None, help="carry on an interrupted import by its id"
)
@click.option("--batch-size", default=2000, show_default=True, type=int)
def import_contacts(
    file: str,
    source: str,
    mapping: str | None,
    on_duplicate: str,
    dry_run: bool,
    as_json: bool,
    resume_id: str | None,
    batch_size: int,
) -> None:
    """Import contacts from a CSV FILE (HubSpot, Salesforce, Pipedrive, Google, any sheet)."""
    from cultiveat_core.importing import ImportOptions, run_import
    from cultiveat_core.importing.service import create_record, finish_record, resume_state

    crm = get_crm()
    require_migrated(crm)
    actor = cli_actor("cli import")
    mapping_data: Any = None
    if mapping:
        try:
            with open(mapping, encoding="utf-8") as handle:
                mapping_data = json.load(handle)
        except (OSError, ValueError) as exc:
            fail(f"cannot read the mapping file {mapping}: {exc}")
    options = ImportOptions(
        source=source,
        mapping=mapping_data,
        on_duplicate=on_duplicate,
        dry_run=dry_run,
        batch_size=batch_size,
    )
    size = os.path.getsize(file)
    resume = None
    done = 0
    try:
        options.check()
        if resume_id:
            options, resume, done = resume_state(crm, resume_id)
            import_id: str | None = resume_id
        else:
            import_id = (
                None
                if dry_run
                else create_record(crm, actor, os.path.basename(file), size, options)
            )
        with open(file, "rb") as stream, _progress(as_json, size) as advance:
            try:
                result = run_import(
                    crm,
                    actor,
                    stream,
                    size=size,
                    options=options,
                    import_id=import_id,
                    resume=resume,
                    resume_after=done,
                    progress=advance,
                )
            except CultiveatError as exc:
                if import_id:
                    finish_record(crm, import_id, None, failure=exc.message)
                raise
        if import_id:
            finish_record(crm, import_id, result)
    except ValidationError as exc:
        if as_json:
            click.echo(
                json.dumps({"error": exc.message, "errors": [e.as_dict() for e in exc.errors]})
            )
            sys.exit(1)
        fail(exc.message)
    except CultiveatError as exc:
        fail(exc.message)
    if as_json:
        click.echo(json.dumps(result.as_dict()))
        return
    verb = "would be " if dry_run else ""
    click.echo(
        f"{result.created} {verb}created, {result.updated} {verb}updated, {result.skipped} "
        f"{verb}skipped, {result.error_count} rows with errors (source: {result.source})"
    )
    for error in result.errors[:20]:
        column = f" [{error['column']}]" if error.get("column") else ""
        click.echo(f"  row {error['row']}{column}: {error['message']}", err=True)
    if result.error_count > 20:
        click.echo(f"  ... and {result.error_count - 20} more (use --json for all)", err=True)
    if import_id:
        click.echo(f"import id: {import_id}", err=True)


class _progress:
    """A rich progress bar over the file's bytes (nothing with --json)."""

    def __init__(self, quiet: bool, size: int) -> None:
        self.quiet, self.size = quiet, size
        self.bar: Any = None

    def __enter__(self) -> Any:
        if self.quiet:
            return None
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("importing"),
            BarColumn(),
            DownloadColumn(),
            TextColumn("{task.description}"),
            TimeRemainingColumn(),
            console=None,
            transient=False,
        )
        self.bar.__enter__()
        task = self.bar.add_task("", total=self.size or None)

        def advance(read: int, total: int, rows: int) -> None:
            self.bar.update(task, completed=read, description=f"{rows} rows")

        return advance

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


@click.group("export")
def export_group() -> None:
    """Export data to files."""


@export_group.command("contacts")
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False, writable=True),
    help="the file to write (.csv or .xlsx; .zip with --password)",
)
@click.option(
    "--filter",
    "filters",
    multiple=True,
    metavar="NAME=VALUE",
    help="a list filter, e.g. --filter stage='Hot Lead' --filter tag=Enterprise (repeatable)",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "xlsx"]),
    default=None,
    help="default: from the file name, else csv",
)
@click.option(
    "--password",
    default=None,
    help="encrypt into an AES zip (or set CULTIVEAT_EXPORT_PASSWORD)",
    envvar="CULTIVEAT_EXPORT_PASSWORD",
)
@click.option(
    "--as",
    "as_user",
    default=None,
    metavar="EMAIL",
    help="export as this user: their role's permissions, row cap and field masking apply",
)
def export_contacts_command(
    out_path: str,
    filters: tuple[str, ...],
    fmt: str | None,
    password: str | None,
    as_user: str | None,
) -> None:
    """Export contacts (every column, plugin columns included) as CSV or XLSX."""
    from cultiveat_core.exporting import export_contacts

    crm = get_crm()
    require_migrated(crm)
    actor = cli_actor("cli export")
    if as_user is not None:
        try:
            actor = crm.users.actor_for(crm.users.get_by_email(as_user))
        except CultiveatError as exc:
            fail(f"--as {as_user}: {exc.message}")
    params: dict[str, list[str]] = {}
    for item in filters:
        name, sep, value = item.partition("=")
        if not sep:
            fail(f"--filter {item!r}: use NAME=VALUE, e.g. stage=Qualified")
        params.setdefault(name.strip(), []).append(value.strip())
    fmt = fmt or ("xlsx" if out_path.lower().removesuffix(".zip").endswith(".xlsx") else "csv")
    try:
        with open(out_path, "wb") as out:
            result = export_contacts(
                crm, actor, params, out, format=fmt, password=password
            )
    except CultiveatError as exc:
        os.unlink(out_path)
        details = "; ".join(f"{e.field}: {e.message}" for e in getattr(exc, "errors", []))
        fail(details or exc.message)
    click.echo(
        f"wrote {result.rows} contacts to {out_path}"
        + (" (AES-encrypted zip)" if password else ""),
        err=True,
    )
