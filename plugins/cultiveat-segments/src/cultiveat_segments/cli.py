"""``cultiveat segments refresh [NAME]``, ``train``, ``list``."""

from __future__ import annotations

import json

import click

from cultiveat_core import CRM, Actor, CultiveatError


def segments_group(crm: CRM) -> click.Group:
    @click.group("segments")
    def segments() -> None:
        """Segments: refresh rule segments, train ML segments, list them."""

    @segments.command("refresh")
    @click.argument("name", required=False)
    def refresh(name: str | None) -> None:
        """Rebuild segment NAME (every segment without a name) and print what changed."""
        from cultiveat_segments.plugin import service

        actor = Actor.system("cli segments refresh")
        try:
            segment_id = service(crm).by_name(actor, name)["id"] if name else None
            results = service(crm).refresh(actor, segment_id)
        except CultiveatError as exc:
            raise click.ClickException(exc.message) from exc
        for r in results:
            status = (
                f"skipped: {r['skipped']}"
                if r["skipped"]
                else f"{r['size']} members (+{r['entered']} -{r['left']}) in {r['seconds']:.2f}s"
            )
            click.echo(f"{r['name']}: {status}")

    @segments.command("train")
    @click.option(
        "--kind",
        type=click.Choice(["behaviour", "preference"]),
        default="behaviour",
        show_default=True,
    )
    def train(kind: str) -> None:
        """Train an ML segmentation model now and print its model card."""
        from cultiveat_segments.ml.runs import train as train_model

        try:
            card = train_model(crm, kind)
        except CultiveatError as exc:
            raise click.ClickException(exc.message) from exc
        click.echo(json.dumps(card, indent=2, default=str))

    @segments.command("list")
    def list_segments() -> None:
        """Print every segment with its size and status."""
        from cultiveat_segments.plugin import service

        for seg in service(crm).list(Actor.system("cli segments list")):
            extra = (
                f" (unavailable: {seg['unavailable_reason']})" if seg["unavailable_reason"] else ""
            )
            click.echo(
                f"{seg['id']:>4} {seg['name']:<40} {seg['kind']:<8} {seg['member_count']:>8}{extra}"
            )

    return segments
