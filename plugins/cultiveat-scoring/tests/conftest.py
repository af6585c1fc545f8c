from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import cultiveat_scoring.plugin
import pytest

from cultiveat_core.crm import CRM
from cultiveat_core.domain import Actor

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SYSTEM = Actor.system("tests")


@pytest.fixture
def crm(make_crm: Callable[..., CRM]) -> CRM:
    return make_crm(plugins=[cultiveat_scoring.plugin], event_wait_seconds=60)


@pytest.fixture
def scoring(crm: CRM) -> Any:
    return crm.extensions["scoring"]


def days_ago(days: float, now: datetime = NOW) -> datetime:
    return now - timedelta(days=days)


def add_contact(crm: CRM, email: str, **fields: Any) -> int:
    first = fields.pop("first_name", "Test")
    last = fields.pop("last_name", "Person")
    return crm.contacts.create(
        SYSTEM, {"email": email, "first_name": first, "last_name": last, **fields}
    ).id


def log(
    crm: CRM,
    contact_id: int,
    items: Sequence[tuple[str, datetime] | tuple[str, datetime, dict[str, Any]]],
) -> None:
    crm.activities.log_many(
        SYSTEM,
        [
            {
                "contact_id": contact_id,
                "type": item[0],
                "occurred_at": item[1],
                "data": item[2] if len(item) > 2 else {},
            }  # type: ignore[misc]
            for item in items
        ],
    )
