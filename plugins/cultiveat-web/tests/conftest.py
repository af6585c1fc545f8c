"""Fixtures: a CRM with the web plugin, browser-like clients that log in through the pages."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import cultiveat_web.plugin
import pyotp
import pytest
from litestar.testing import TestClient

from cultiveat_core.crm import CRM
from cultiveat_core.domain import Actor
from cultiveat_core.web import create_app

PASSWORD = "correct horse battery staple 42"
CSRF_FIELD = re.compile(r'name="_csrf" value="([^"]*)"')


def csrf_of(html: str) -> str:
    found = CSRF_FIELD.search(html)
    assert found, "the page has no _csrf field"
    return found.group(1)


@pytest.fixture
def crm(make_crm: Callable[..., CRM]) -> CRM:
    return make_crm(plugins=[cultiveat_web.plugin], cookie_secure=False)


@pytest.fixture
def web_app(crm: CRM) -> Any:
    return create_app(crm, run_jobs=False)


def make_user(crm: CRM, role: str, email: str | None = None) -> Any:
    email = email or f"{role}-{uuid.uuid4().hex[:6]}@example.com"
    return crm.users.create(
        Actor.system("tests"), email, role, name=role.title(), password=PASSWORD
    )


def log_in(client: TestClient, crm: CRM, user: Any) -> None:
    """Log in through /login (and the MFA enrolment when the role requires it)."""
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"email": user.email, "password": PASSWORD, "_csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    if response.headers["location"].startswith("/login/mfa"):
        page = client.get("/login/mfa")
        secret = re.search(r"data-totp-secret>([A-Z2-7]+)<", page.text)
        assert secret, "expected the TOTP enrolment step"
        done = client.post(
            "/login/mfa",
            data={
                "_csrf": csrf_of(page.text),
                "code": pyotp.TOTP(secret.group(1)).now(),
                "next": "/",
            },
        )
        assert "recovery" in done.text.lower(), done.text


@pytest.fixture
def browser_for(crm: CRM) -> Iterator[Callable[..., TestClient]]:
    """``browser_for("sales")`` -> a client logged in through the login page as a new user.

    Each client gets its own app instance: two test clients sharing one app's lifespan hang
    on shutdown."""
    clients: list[TestClient] = []

    def factory(role: str = "admin") -> TestClient:
        client = TestClient(create_app(crm, run_jobs=False), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        log_in(client, crm, make_user(crm, role))
        return client

    yield factory
    for client in clients:
        client.__exit__(None, None, None)
