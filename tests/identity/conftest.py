"""Identity tests: real HTTP through Litestar's TestClient, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pyotp
import pytest
import sqlalchemy as sa
from litestar.testing import TestClient

from cultiveat_core.db import tables
from cultiveat_core.domain import Actor

PASSWORD = "correct horse battery staple"
SYSTEM = Actor.system("tests")


@pytest.fixture
def crm(make_crm):
    # TestClient talks plain http://testserver.local, where httpx would drop Secure cookies.
    return make_crm(cookie_secure=False)


@pytest.fixture
def make_user(crm) -> Callable[..., Any]:
    def factory(
        role: str = "sales", password: str | None = PASSWORD, email: str | None = None
    ) -> Any:
        email = email or f"{role}-{uuid.uuid4().hex[:6]}@example.com"
        return crm.users.create(SYSTEM, email, role, password=password)

    return factory


@pytest.fixture
def browser(app) -> Iterator[Callable[[], TestClient]]:
    clients: list[TestClient] = []

    def factory() -> TestClient:
        # no lifespan: the app's startup already ran for the fixtures' API clients, and one
        # app cannot run two lifespans at once
        client = TestClient(app, raise_server_exceptions=False)
        clients.append(client)
        return client

    yield factory
    clients.clear()


def login(client: TestClient, email: str, password: str = PASSWORD) -> Any:
    return client.post("/auth/login", json={"email": email, "password": password})


def csrf(response: Any) -> dict[str, str]:
    return {"X-CSRF-Token": response.json()["csrf_token"]}


def enrol_totp(crm, user) -> tuple[str, list[str]]:
    """Enrol ``user`` in TOTP through the service; returns (secret, recovery codes)."""
    actor = crm.users.actor_for(user)
    secret, _, _ = crm.auth.start_totp_enrolment(actor)
    codes = crm.auth.confirm_totp_enrolment(actor, pyotp.TOTP(secret).now())
    return secret, codes


def count(crm, table: sa.Table, *where: Any) -> int:
    with crm.engine.connect() as conn:
        return int(
            conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar() or 0
        )


def audit_actions(crm, action: str) -> list[dict[str, Any]]:
    t = tables.audit_log
    with crm.engine.connect() as conn:
        return [
            dict(r)
            for r in conn.execute(
                sa.select(t).where(t.c.action == action).order_by(t.c.id)
            ).mappings()
        ]
