"""``cultiveat email ...``: send a test message now."""

from __future__ import annotations

import json

import click

from cultiveat_core.cli.context import fail, get_crm, require_migrated, run_service
from cultiveat_email import admin


@click.group("email")
def email_group() -> None:
    """The email channel: test the SMTP settings."""


@email_group.command("test")
@click.option("--to", "to", required=True, help="address that receives the test message")
def email_test(to: str) -> None:
    """Send one test message now through CULTIVEAT_EMAIL_SMTP_URL and print the outcome."""
    crm = get_crm()
    require_migrated(crm)
    result = run_service(admin.send_test, crm, to)
    click.echo(json.dumps(result))
    if result["status"] != "sent":
        fail(
            "the test message was not delivered: "
            f"{result['status']} {result.get('code')} {result.get('error')}"
        )
