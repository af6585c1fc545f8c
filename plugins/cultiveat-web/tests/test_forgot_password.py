"""The login page's "Forgot your password?" flow: the core's public reset request from a page
(CSRF-protected, same answer for any address), the mailed link (a real SMTP server, aiosmtpd)
and signing in with the new password; on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import cultiveat_web.plugin
import pytest
from litestar.testing import TestClient

from cultiveat_core.web import create_app

from .conftest import PASSWORD, csrf_of, make_user

CSRF_VALUE = re.compile(r'(name="_csrf" value|name="csrf-token" content)="[^"]*"')


@pytest.fixture
def inbox(smtp_inbox):
    return smtp_inbox


@pytest.fixture
def crm(make_crm, inbox):
    return make_crm(plugins=[cultiveat_web.plugin], cookie_secure=False,
                    mail_url=f"smtp://127.0.0.1:{inbox.port}", mail_from="crm@example.com",
                    public_url="https://crm.example.com")


def test_forgot_password_page_mails_a_link_that_sets_a_new_password(crm, inbox):
    user = make_user(crm, "marketing")
    with TestClient(create_app(crm, run_jobs=False)) as client:
        login = client.get("/login")
        assert 'href="/login/forgot"' in login.text
        page = client.get("/login/forgot")
        assert page.status_code == 200 and 'for="email"' in page.text

        stale = client.post("/login/forgot", data={"email": user.email, "_csrf": "forged"})
        assert stale.status_code == 403 and "CSRF" in stale.text

        unknown = client.post("/login/forgot", data={"email": "nobody@example.com",
                                                     "_csrf": csrf_of(client.get("/login/forgot").text)})
        known = client.post("/login/forgot", data={"email": user.email,
                                                   "_csrf": csrf_of(client.get("/login/forgot").text)})
        assert unknown.status_code == known.status_code == 200
        assert "If an active account uses this address" in known.text
        assert CSRF_VALUE.sub("", unknown.text) == CSRF_VALUE.sub("", known.text)  # nothing tells them apart

        bad = client.post("/login/forgot", data={"email": "not an address",
                                                 "_csrf": csrf_of(client.get("/login/forgot").text)})
        assert bad.status_code == 422 and "email address" in bad.text

        [message] = inbox.wait_for(1)
        assert message["To"] == user.email
        token = re.search(r"/auth/password-reset\?token=([\w-]+)", message.get_content()).group(1)
        new = "a brand new passphrase 77"
        done = client.post("/auth/password-reset/form", data={"token": token, "password": new, "confirm": new})
        assert done.status_code == 200 and "Password changed" in done.text

        old = client.post("/login", data={"email": user.email, "password": PASSWORD,
                                          "_csrf": csrf_of(client.get("/login").text)}, follow_redirects=False)
        assert old.status_code != 303
        fresh = client.post("/login", data={"email": user.email, "password": new,
                                            "_csrf": csrf_of(client.get("/login").text)}, follow_redirects=False)
        assert fresh.status_code == 303
    assert len(inbox.messages) == 1  # the unknown address got nothing
