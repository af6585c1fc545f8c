"""Fixtures of the contacts-domain tests: sample contacts, scoped clients, a file maker."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from cultiveat_core.demo import SAMPLE_CONTACTS
from cultiveat_core.domain import Actor

FILES = Path(__file__).parent / "files"


@pytest.fixture
def system() -> Actor:
    return Actor.system("tests")


@pytest.fixture
def samples(crm, system) -> list[Any]:
    """Seed 003's four sample contacts."""
    return crm.contacts.create_many(system, SAMPLE_CONTACTS)


@pytest.fixture
def unscoped_client(app, crm):
    """A client whose token is scoped to a permission unrelated to contacts (so every
    contacts endpoint must refuse it)."""
    from litestar.testing import TestClient

    system = Actor.system("tests")
    user = crm.users.create(system, f"nobody-{uuid.uuid4().hex[:6]}@example.com", "marketing")
    _, plain = crm.tokens.create(system, user, name="scoped", scopes=("plugins.read",))
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {plain}"
        yield client


def person(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "email": f"person{n}@example.com",
        "first_name": f"First{n}",
        "last_name": f"Last{n}",
        **extra,
    }
