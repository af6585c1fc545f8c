"""A reminder: a note about a contact that comes due at a time."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs


@attrs.frozen(kw_only=True)
class Reminder:
    id: int
    contact_id: int
    due_at: datetime
    note: str
    created_by: int | None = None
    created_at: datetime | None = None
    sent_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Reminder:
        return cls(**{field.name: row[field.name] for field in attrs.fields(cls)})

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "contact_id": self.contact_id,
            "due_at": self.due_at.isoformat(),
            "note": self.note,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "sent_at": self.sent_at.isoformat() if self.sent_at else None,
        }
