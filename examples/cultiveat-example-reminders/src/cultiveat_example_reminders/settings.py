"""``CULTIVEAT_REMINDERS_*`` settings (or a ``[reminders]`` table in the TOML file)."""

from __future__ import annotations

from typing import ClassVar

import attrs


@attrs.frozen(kw_only=True)
class RemindersSettings:
    plugin: ClassVar[str] = "reminders"

    every_seconds: int = 60  # how often the periodic task looks for due reminders
    batch_size: int = 500  # reminders sent per transaction
