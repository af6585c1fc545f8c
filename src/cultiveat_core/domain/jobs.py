"""Jobs: functions run outside the request, by the embedded runner or by Celery workers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import attrs


@attrs.frozen
class Task:
    """A job function ``func(ctx, **payload)``; ``name`` is ``<plugin>.<task>``.

    ``ctx`` is a :class:`cultiveat_core.jobs.JobContext` (``ctx.crm``, ``ctx.progress(...)``).
    Payloads are JSON. A task must be idempotent: it may run again after a crash.
    """

    name: str
    func: Callable[..., Any] = attrs.field(eq=False)
    max_retries: int = 3
    retry_backoff: float = 2.0
    description: str = ""


@attrs.frozen
class PeriodicTask:
    """Run task ``task`` every ``every`` with ``payload``; ``name`` is unique."""

    name: str
    task: str
    every: timedelta
    payload: Mapping[str, Any] = attrs.field(factory=dict)
