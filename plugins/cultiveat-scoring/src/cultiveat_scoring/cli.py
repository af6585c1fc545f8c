"""``cultiveat scoring recompute`` and ``cultiveat scoring train``."""

from __future__ import annotations

import json

import click

from cultiveat_core.cli.context import cli_actor, get_crm, require_migrated, run_service


@click.group("scoring")
def scoring_group() -> None:
    """Lead scoring: recompute scores, train the conversion model."""


@scoring_group.command("recompute")
@click.option(
    "--dirty-only", is_flag=True, help="only the contacts marked dirty since the last run"
)
def recompute_command(dirty_only: bool) -> None:
    """Score every contact (or the dirty ones) now, with the active rule set."""
    crm = get_crm()
    require_migrated(crm)
    scoring = crm.extensions["scoring"]

    def progress(done: int, total: int, message: str) -> None:
        click.echo(message, err=True)

    if dirty_only:
        result = run_service(scoring.service.rescore_dirty)
    else:
        result = run_service(scoring.service.recompute_all, progress=progress)
        scoring.model.refresh()
    click.echo(json.dumps(result.as_dict()))


@scoring_group.command("train")
def train_command() -> None:
    """Train and evaluate the conversion model; prints the model card as JSON."""
    crm = get_crm()
    require_migrated(crm)
    card = run_service(crm.extensions["scoring"].model.train, cli_actor("cultiveat scoring train"))
    click.echo(json.dumps(card, indent=2))
