"""Entry point: load settings and plugins once, then dispatch to a command."""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Any

import click

from cultiveat_core.cli import commands
from cultiveat_core.cli.context import get_crm
from cultiveat_core.crm import CRM, create_crm
from cultiveat_core.errors import ConfigurationError
from cultiveat_core.logging import configure_logging
from cultiveat_core.settings import Settings


def build_cli(crm: CRM) -> click.Group:
    @click.group(help="Cultiveat CRM: contacts, activities and every plugin's commands.")
    @click.pass_context
    def cli(ctx: click.Context) -> None:
        ctx.obj = crm

    for command in commands.CORE_COMMANDS:
        cli.add_command(command)
    for registered in crm.registry.items.get("commands", ()):
        command = registered.item
        if command.name in cli.commands:
            raise ConfigurationError(
                f"plugin {registered.plugin!r} adds CLI command {command.name!r}, "
                "which already exists"
            )
        cli.add_command(command)
    return cli


def main(argv: list[str] | None = None) -> Any:
    configure_logging()
    try:
        # Whatever a plugin prints while it loads is a log line, not command output: keep
        # standard output for the command (``--json`` prints only JSON there).
        with contextlib.redirect_stdout(sys.stderr):
            crm = create_crm(Settings.from_env())
            cli = build_cli(crm)
    except ConfigurationError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(2)
    try:
        return cli.main(args=argv, prog_name="cultiveat")
    finally:
        crm.close()


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="print only JSON on standard output")
def plugins_command(as_json: bool) -> None:
    """List plugins: name, distribution, version, hooks, status (loaded, failed, blocked)."""
    crm = get_crm()
    report = crm.plugins_report()
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    for row in report:
        line = (f"{row['name']:<28} {row['status']:<8} "
                f"{row['distribution'] or '-'} {row['version'] or ''}")
        click.echo(line.rstrip())
        if row["error"]:
            click.echo(f"    error: {row['error']}")
        if row["hooks"]:
            click.echo(f"    hooks: {', '.join(row['hooks'])}")


commands.CORE_COMMANDS.append(plugins_command)
