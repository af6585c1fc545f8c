"""Jobs of the campaigns plugin."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cultiveat_campaigns import sending, sequences, service
from cultiveat_core import CRM, JobContext, PeriodicTask, Task


def tick(ctx: JobContext) -> dict[str, Any]:
    """Start due scheduled campaigns and advance due sequence steps."""
    return {"started": service.start_due(ctx.crm), **sequences.tick(ctx.crm)}


TASKS = [
    Task(
        "campaigns.prepare",
        sending.prepare,
        max_retries=5,
        description="add a campaign's recipients",
    ),
    Task(
        "campaigns.requeue", sending.requeue, max_retries=5, description="queue waiting recipients"
    ),
    Task(
        "campaigns.send_batch",
        sending.send_batch,
        max_retries=6,
        retry_backoff=4.0,
        description="send one batch of a campaign through its channel",
    ),
    Task(
        "campaigns.send_one",
        sending.send_one,
        max_retries=6,
        retry_backoff=4.0,
        description="send one email to one contact",
    ),
    Task(
        "campaigns.tick", tick, max_retries=0, description="scheduled campaigns and sequence steps"
    ),
]


def periodic(crm: CRM) -> list[PeriodicTask]:
    from cultiveat_campaigns.settings import CampaignsSettings

    every = crm.plugin_settings(CampaignsSettings).tick_seconds
    return [PeriodicTask("campaigns.tick", "campaigns.tick", timedelta(seconds=every))]
