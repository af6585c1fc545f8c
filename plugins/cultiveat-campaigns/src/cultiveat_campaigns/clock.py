"""The time campaigns and sequences see; tests replace it with a clock they move by hand."""

from __future__ import annotations

from datetime import datetime, timedelta

from cultiveat_core.db.metadata import utcnow


class Clock:
    def now(self) -> datetime:
        return utcnow()


class ManualClock(Clock):
    """A clock that only moves when told: ``clock.advance(days=2)``."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or utcnow()

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current
