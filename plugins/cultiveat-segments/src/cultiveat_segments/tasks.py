"""Jobs: refresh (daily and on demand), batch re-evaluation, ML training and scoring, inference."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from cultiveat_core import JobContext, PeriodicTask, Task
from cultiveat_segments.settings import SegmentsSettings

if TYPE_CHECKING:
    from cultiveat_core import CRM


def refresh_task(ctx: JobContext, segment_ids: list[int] | None = None) -> dict[str, Any]:
    from cultiveat_segments import membership

    results = membership.refresh(ctx.crm, segment_ids, reason="refresh")
    ctx.progress(len(results), len(results), "segments refreshed")
    return {"segments": [r.as_dict() for r in results]}


def reevaluate_task(ctx: JobContext, contact_ids: list[int]) -> dict[str, Any]:
    from cultiveat_segments import membership

    changed = membership.reevaluate(ctx.crm, contact_ids, reason="event")
    return {"contacts": len(contact_ids), "changed": {str(k): list(v) for k, v in changed.items()}}


def train_task(ctx: JobContext, kind: str = "behaviour") -> dict[str, Any]:
    from cultiveat_segments.ml.runs import train

    return train(ctx.crm, kind, progress=ctx.progress)


def score_task(ctx: JobContext, kind: str = "behaviour", if_trained: bool = False) -> dict[str, Any]:
    """Assign contacts to the latest model's segments. ``if_trained`` (the daily run): no
    model trained yet is nothing to do, not a failure (a new installation has none)."""
    from cultiveat_segments.ml.runs import has_model, score

    if if_trained and not has_model(ctx.crm, kind):
        return {"skipped": f"no trained {kind} model yet"}
    return score(ctx.crm, kind)


def infer_preferences_task(ctx: JobContext) -> dict[str, Any]:
    from cultiveat_segments.preferences import infer_preferences

    return infer_preferences(ctx.crm)


TASKS = [
    Task(
        "segments.refresh",
        refresh_task,
        description="Rebuild dynamic segments (all or segment_ids)",
    ),
    Task(
        "segments.reevaluate",
        reevaluate_task,
        description="Re-evaluate a batch of changed contacts",
    ),
    Task("segments.train", train_task, max_retries=0, description="Train an ML segmentation model"),
    Task(
        "segments.score", score_task, description="Assign contacts to the latest model's segments"
    ),
    Task(
        "segments.infer_preferences",
        infer_preferences_task,
        description="Infer preferences from activities",
    ),
]


def periodic_tasks(crm: CRM) -> list[PeriodicTask]:
    every = timedelta(hours=crm.plugin_settings(SegmentsSettings).refresh_hours)
    return [
        PeriodicTask("segments.daily_refresh", "segments.refresh", every),
        PeriodicTask(
            "segments.daily_score", "segments.score", every, {"kind": "behaviour", "if_trained": True}
        ),
        PeriodicTask("segments.daily_preferences", "segments.infer_preferences", every),
    ]
