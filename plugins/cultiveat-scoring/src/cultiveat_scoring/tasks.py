"""Jobs: full recompute (with progress), rescoring dirty contacts, (re)training the model."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cultiveat_core.domain import PeriodicTask, Task
from cultiveat_core.errors import Conflict
from cultiveat_core.jobs import JobContext
from cultiveat_scoring.settings import ScoringSettings


def recompute(ctx: JobContext, reason: str = "") -> dict[str, Any]:
    scoring = ctx.crm.extensions["scoring"]
    result = scoring.service.recompute_all(progress=ctx.progress).as_dict()
    result["probabilities"] = scoring.model.refresh()
    result["reason"] = reason
    return result


def rescore_dirty(ctx: JobContext) -> dict[str, Any]:
    return dict(ctx.crm.extensions["scoring"].service.rescore_dirty().as_dict())


def train(ctx: JobContext, periodic: bool = False) -> dict[str, Any]:
    try:
        return dict(ctx.crm.extensions["scoring"].model.train(ctx.actor))
    except Conflict as exc:
        if periodic:  # too little history yet: nothing to retry, try again next period
            return {"skipped": exc.message}
        raise


TASKS = [
    Task(
        "scoring.recompute",
        recompute,
        max_retries=2,
        description="Score every contact with the active rule set (reports progress)",
    ),
    Task(
        "scoring.rescore_dirty",
        rescore_dirty,
        max_retries=3,
        description="Score the contacts marked dirty by large batches of activities or updates",
    ),
    Task(
        "scoring.train",
        train,
        max_retries=0,
        description="Train and evaluate the conversion model; store every contact's probability",
    ),
]


def periodic_tasks(settings: ScoringSettings) -> list[PeriodicTask]:
    found = [PeriodicTask("scoring.rescore_dirty", "scoring.rescore_dirty", timedelta(minutes=1))]
    if settings.recompute_every_minutes > 0:
        found.append(
            PeriodicTask(
                "scoring.recompute",
                "scoring.recompute",
                timedelta(minutes=settings.recompute_every_minutes),
                {"reason": "periodic"},
            )
        )
    if settings.retrain_every_hours > 0:
        found.append(
            PeriodicTask(
                "scoring.train",
                "scoring.train",
                timedelta(hours=settings.retrain_every_hours),
                {"periodic": True},
            )
        )
    return found
