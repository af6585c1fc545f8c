"""Activities: everything that happens to or with a contact."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import attrs

DataValidator = Callable[[dict[str, Any]], dict[str, Any]]


def _plain_dict(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return dict(value or {})


@attrs.frozen
class ActivityType:
    """A kind of activity. ``validate`` normalises ``data`` or raises ``ValidationError``."""

    name: str
    label: str
    description: str = ""
    category: str = "other"
    validate: DataValidator | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen(kw_only=True)
class Activity:
    id: int
    contact_id: int
    type: str
    occurred_at: datetime
    data: Mapping[str, Any] = attrs.field(factory=dict, converter=_plain_dict)
    actor_id: int | None = None
    created_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "contact_id": self.contact_id,
            "type": self.type,
            "occurred_at": self.occurred_at.isoformat(),
            "data": dict(self.data),
            "actor_id": self.actor_id,
            "created_at": self.created_at.isoformat() if self.created_at else None,
        }
