"""Job ``reminders.send_due``: send every due reminder, a batch per transaction."""

from __future__ import annotations

from typing import Any

from cultiveat_core import JobContext
from cultiveat_example_reminders.service import reminders_service


def send_due(ctx: JobContext) -> dict[str, Any]:
    service = reminders_service(ctx.crm)
    total = 0
    while True:
        sent = service.send_due(ctx.actor)
        if not sent:
            break
        total += len(sent)
        ctx.progress(total, message=f"sent {total} reminder(s)")
    return {"sent": total}
