"""``cultiveat hello greet ID`` and ``cultiveat hello log``."""

from __future__ import annotations

import json

import click

from cultiveat_core import CRM, Actor, CultiveatError
from cultiveat_example_hello import journal
from cultiveat_example_hello.greetings import greet
from cultiveat_example_hello.settings import HelloSettings


def hello_group(crm: CRM) -> click.Group:
    """The command group, bound to the CRM the CLI was started with."""

    @click.group("hello")
    def hello() -> None:
        """Example plugin `hello`: greetings and its contact log."""

    @hello.command("greet")
    @click.argument("contact_id", type=int)
    def greet_command(contact_id: int) -> None:
        """Print the greeting for contact CONTACT_ID."""
        try:
            click.echo(greet(crm, Actor.system("cli hello greet"), contact_id))
        except CultiveatError as exc:
            raise click.ClickException(exc.message) from exc

    @hello.command("log")
    @click.option("--json", "as_json", is_flag=True, help="print the entries as one JSON list")
    def log_command(as_json: bool) -> None:
        """Show the contacts the listener has written to CULTIVEAT_HELLO_LOG_PATH."""
        entries = journal.read(crm.plugin_settings(HelloSettings).log_path)
        if as_json:
            click.echo(json.dumps(entries))
            return
        for entry in entries:
            click.echo(f"{entry['contact_id']:>6} {entry['email']}")

    return hello
