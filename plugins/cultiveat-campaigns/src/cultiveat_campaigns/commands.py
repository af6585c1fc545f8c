"""``cultiveat campaigns ...``: send a campaign by name, list campaigns."""

from __future__ import annotations

import json

import click

from cultiveat_campaigns import service
from cultiveat_core.cli.context import cli_actor, get_crm, require_migrated, run_service


@click.group("campaigns")
def campaigns_group() -> None:
    """Email campaigns: list and send."""


@campaigns_group.command("send")
@click.argument("name")
def send(name: str) -> None:
    """Send the campaign called NAME (its jobs run on the workers)."""
    crm = get_crm()
    require_migrated(crm)
    campaign = run_service(service.find_by_name, crm, name)
    result = run_service(service.send, crm, cli_actor("cli campaigns send"), campaign["id"])
    click.echo(f"campaign {result['name']!r} is {result['status']}")


@campaigns_group.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_(as_json: bool) -> None:
    """List campaigns with their status and size."""
    crm = get_crm()
    require_migrated(crm)
    rows = run_service(service.list_all, crm, cli_actor())
    if as_json:
        click.echo(json.dumps(rows))
        return
    for row in rows:
        click.echo(
            f"{row['id']:>5} {row['status']:<10} {row['recipients']['total']:>8} {row['name']}"
        )
