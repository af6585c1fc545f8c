"""Public "forgot password": same answer for every address, mailed single-use link (a real SMTP
server, aiosmtpd), rate limits, no MFA bypass; on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import time

import pytest

from cultiveat_core.db import tables

from .conftest import PASSWORD, count, enrol_totp, login


@pytest.fixture
def inbox(smtp_inbox):
    return smtp_inbox


@pytest.fixture
def crm(make_crm, inbox):
    return make_crm(cookie_secure=False, mail_url=f"smtp://127.0.0.1:{inbox.port}",
                    mail_from="crm@example.com", public_url="https://crm.example.com",
                    password_reset_max_per_ip=6)


def link_token(message) -> str:
    body = message.get_content()
    found = re.search(r"https://crm\.example\.com/auth/password-reset\?token=([\w-]+)", body)
    assert found, body
    return found.group(1)


def test_forgot_password_same_answer_mailed_single_use_link_and_mfa_kept(crm, browser, make_user, inbox):
    user = make_user("admin")
    enrol_totp(crm, user)
    anonymous = browser()
    unknown = anonymous.post("/api/auth/password-reset", json={"email": "nobody@example.com"})
    known = anonymous.post("/api/auth/password-reset", json={"email": user.email.upper()})
    assert unknown.status_code == known.status_code == 202, known.text
    assert unknown.json() == known.json()
    messages = inbox.wait_for(1)
    assert len(messages) == 1 and messages[0]["To"] == user.email
    assert messages[0]["From"] == "crm@example.com"
    token = link_token(messages[0])
    assert count(crm, tables.password_resets) == 1  # nothing for the unknown address

    # the link's page, then the new password (once)
    page = anonymous.get("/auth/password-reset", params={"token": token})
    assert page.status_code == 200 and "new password" in page.text.lower()
    done = anonymous.post("/auth/password-reset", json={"token": token, "password": "a brand new passphrase"})
    assert done.status_code == 204, done.text
    again = anonymous.post("/auth/password-reset", json={"token": token, "password": "another passphrase"})
    assert again.status_code == 401
    assert login(browser(), user.email, PASSWORD).status_code == 401
    logged = login(browser(), user.email, "a brand new passphrase")
    assert logged.status_code == 200 and logged.json()["mfa_required"] is True  # MFA not bypassed

    # the page flow: the form posts the token back with the new password twice
    anonymous.post("/api/auth/password-reset", json={"email": user.email})
    token = link_token(inbox.wait_for(2)[1])
    page = anonymous.get("/auth/password-reset", params={"token": token})
    assert f'value="{token}"' in page.text
    differ = anonymous.post("/auth/password-reset/form",
                            data={"token": token, "password": "third passphrase", "confirm": "nope"})
    assert differ.status_code == 400 and "differ" in differ.text
    weak = anonymous.post("/auth/password-reset/form",
                          data={"token": token, "password": "password", "confirm": "password"})
    assert weak.status_code == 400 and "common" in weak.text
    set_by_form = anonymous.post("/auth/password-reset/form",
                                 data={"token": token, "password": "third passphrase", "confirm": "third passphrase"})
    assert set_by_form.status_code == 200 and "Password changed" in set_by_form.text
    assert login(browser(), user.email, "third passphrase").status_code == 200
    reused = anonymous.post("/auth/password-reset/form",
                            data={"token": token, "password": "fourth passphrase", "confirm": "fourth passphrase"})
    assert reused.status_code == 400 and "invalid, used or expired" in reused.text
    xss = anonymous.get("/auth/password-reset", params={"token": '"><script>alert(1)</script>'})
    assert "<script>alert" not in xss.text


def test_forgot_password_is_rate_limited_and_validated(crm, browser, make_user, inbox):
    user = make_user("sales")
    client = browser()
    answers = [client.post("/api/auth/password-reset", json={"email": user.email}).status_code
               for _ in range(5)]
    assert answers == [202] * 5
    inbox.wait_for(3)
    time.sleep(0.5)
    assert len(inbox.messages) == 3  # at most 3 mails an hour per address; the rest dropped
    assert client.post("/api/auth/password-reset", json={"email": "x@example.com"}).status_code == 202
    limited = client.post("/api/auth/password-reset", json={"email": "y@example.com"})
    assert limited.status_code == 429 and "too many" in limited.text
    assert limited.headers.get("retry-after")
    bad = browser().post("/api/auth/password-reset", json={"email": "x@example.com", "role": "admin"})
    assert bad.status_code == 400  # undeclared fields refused
    assert browser().post("/api/auth/password-reset", json={"email": "not-an-address"}).status_code in (400, 422)


def test_forgot_password_without_mail_logs_the_link(make_crm, caplog):
    crm = make_crm(cookie_secure=False)
    from cultiveat_core.domain import Actor

    user = crm.users.create(Actor.system("t"), "ann@example.com", "sales", password=PASSWORD)
    with caplog.at_level("WARNING", logger="cultiveat.mail"):
        crm.auth.forgot_password(user.email, "http://127.0.0.1:8000", wait=True)
    assert "http://127.0.0.1:8000/auth/password-reset?token=" in caplog.text
