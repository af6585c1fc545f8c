"""Jobs of the email plugin."""

from __future__ import annotations

from typing import Any

from cultiveat_core import JobContext, Task
from cultiveat_email import admin, imap


def test_send(ctx: JobContext, to: str) -> dict[str, Any]:
    return admin.send_test(ctx.crm, to)


def poll_inbox(ctx: JobContext) -> dict[str, Any]:
    return imap.poll(ctx.crm)


TASKS = [
    Task("email.test", test_send, max_retries=0, description="send one test email"),
    Task(
        "email.poll_inbox",
        poll_inbox,
        max_retries=0,
        description="log replies and bounces from IMAP",
    ),
]
