"""``/profile``: password change, TOTP enrolment / recovery codes / removal, sessions, tokens."""

from __future__ import annotations

import re

import pyotp
import sqlalchemy as sa
from litestar.testing import TestClient

from cultiveat_core.db import tables
from cultiveat_core.domain import Actor
from cultiveat_core.errors import AuthenticationFailed
from cultiveat_core.web import create_app

from .conftest import PASSWORD, csrf_of, log_in, make_user

NEW_PASSWORD = "purple elephants juggle quietly 7"


def client_for(crm, user) -> TestClient:
    client = TestClient(create_app(crm, run_jobs=False), raise_server_exceptions=False)
    client.__enter__()
    log_in(client, crm, user)
    return client


def audit_count(crm, action: str, user_id: int) -> int:
    log = tables.audit_log
    with crm.engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(
                    log.c.action == action, log.c.object_id == str(user_id)
                )
            ).scalar_one()
        )


def signed_in(client: TestClient) -> bool:
    response = client.get("/profile", follow_redirects=False)
    return response.status_code == 200


def test_profile_is_linked_from_the_top_bar_and_shows_the_account(crm):
    user = make_user(crm, "sales")
    client = client_for(crm, user)
    try:
        home = client.get("/").text
        assert 'href="/profile"' in home
        page = client.get("/profile")
        assert page.status_code == 200
        assert user.email in page.text and "sales" in page.text
        assert "(this browser)" in page.text and 'data-mfa-state="off"' in page.text
        # every form on the page carries the session's CSRF token
        forms = re.findall(r'<form method="post"[^>]*>.*?</form>', page.text, re.S)
        assert forms and all('name="_csrf" value="' + csrf_of(page.text) in f for f in forms)
    finally:
        client.__exit__(None, None, None)


def test_password_change_follows_the_identity_rules_and_signs_out_elsewhere(crm):
    user = make_user(crm, "sales")
    here, elsewhere = client_for(crm, user), client_for(crm, user)
    try:
        token = csrf_of(here.get("/profile").text)
        form = {"_csrf": token, "current_password": PASSWORD}
        mismatch = here.post(
            "/profile/password",
            data={**form, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD + "x"},
        )
        assert mismatch.status_code == 422 and "differ" in mismatch.text
        assert 'id="confirm_password-error"' in mismatch.text
        weak = here.post(
            "/profile/password",
            data={**form, "new_password": "password", "confirm_password": "password"},
        )
        assert weak.status_code == 422 and "too common" in weak.text
        wrong = here.post(
            "/profile/password",
            data={
                "_csrf": token,
                "current_password": "not my password",
                "new_password": NEW_PASSWORD,
                "confirm_password": NEW_PASSWORD,
            },
        )
        assert wrong.status_code == 401 and "not your current password" in wrong.text
        # checking the current password is neither a login nor a login failure in the audit log
        assert audit_count(crm, "user.password_change_failed", user.id) == 1
        assert audit_count(crm, "auth.login_failed", user.id) == 0
        logins_before = audit_count(crm, "auth.login", user.id)
        no_csrf = here.post(
            "/profile/password",
            data={
                **form,
                "_csrf": "forged",
                "new_password": NEW_PASSWORD,
                "confirm_password": NEW_PASSWORD,
            },
        )
        assert no_csrf.status_code == 403
        done = here.post(
            "/profile/password",
            data={**form, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
            follow_redirects=False,
        )
        assert done.status_code == 303 and done.headers["location"] == "/profile"
        # this browser carries on with a fresh session; the other one is signed out
        page = here.get("/profile")
        assert page.status_code == 200 and "Password changed" in page.text
        assert audit_count(crm, "auth.login", user.id) == logins_before
        assert not signed_in(elsewhere)
        assert crm.auth.login(user.email, NEW_PASSWORD).user.id == user.id
        try:
            crm.auth.login(user.email, PASSWORD)
            raise AssertionError("the old password still works")
        except AuthenticationFailed:
            pass
    finally:
        here.__exit__(None, None, None)
        elsewhere.__exit__(None, None, None)


def test_totp_enrol_regenerate_recovery_codes_and_disable(crm):
    user = make_user(crm, "marketing")
    client = client_for(crm, user)
    try:
        token = csrf_of(client.get("/profile").text)
        start = client.post("/profile/mfa/enrol", data={"_csrf": token})
        assert start.status_code == 200 and "<svg" in start.text
        secret = re.search(r"data-totp-secret>([A-Z2-7]+)<", start.text).group(1)
        bad = client.post("/profile/mfa/enrol", data={"_csrf": token, "code": "000000"})
        assert bad.status_code == 422 and "does not match" in bad.text
        secret = re.search(r"data-totp-secret>([A-Z2-7]+)<", bad.text).group(1)
        done = client.post(
            "/profile/mfa/enrol", data={"_csrf": token, "code": pyotp.TOTP(secret).now()}
        )
        assert done.status_code == 200 and 'data-mfa-state="on"' in done.text
        first_codes = re.findall(r"<li><code>([^<]+)</code></li>", done.text)
        assert len(first_codes) == 10 and crm.auth.mfa_enrolled(user.id)

        wrong = client.post(
            "/profile/mfa/recovery-codes", data={"_csrf": token, "code": "123456"}
        )
        assert wrong.status_code == 422 and 'id="recovery_code-error"' in wrong.text
        fresh = client.post(
            "/profile/mfa/recovery-codes", data={"_csrf": token, "code": first_codes[0]}
        )
        new_codes = re.findall(r"<li><code>([^<]+)</code></li>", fresh.text)
        assert fresh.status_code == 200 and len(new_codes) == 10
        assert not set(new_codes) & set(first_codes)
        # the old codes stopped working
        assert crm.auth.verify_totp(user.id, first_codes[1]) is False

        off = client.post(
            "/profile/mfa/disable",
            data={"_csrf": token, "code": new_codes[0]},
            follow_redirects=False,
        )
        assert off.status_code == 303 and off.headers["location"].startswith("/login")
        assert not crm.auth.mfa_enrolled(user.id)
        assert not signed_in(client)  # the service ended every session
    finally:
        client.__exit__(None, None, None)


def test_sessions_are_listed_and_others_signed_out_and_tokens_shown(crm):
    user = make_user(crm, "sales")
    here, elsewhere = client_for(crm, user), client_for(crm, user)
    crm.tokens.create(Actor.system("tests"), user, name="zapier-sync")
    try:
        page = here.get("/profile").text
        assert page.count("<tr") - 1 == 2 and page.count("(this browser)") == 1
        assert "zapier-sync" in page
        done = here.post(
            "/profile/sessions/revoke-others",
            data={"_csrf": csrf_of(page)},
            follow_redirects=False,
        )
        assert done.status_code == 303
        after = here.get("/profile").text
        assert "Signed out of 1 other session(s)." in after
        assert after.count("(this browser)") == 1 and after.count("<tr") - 1 == 1
        assert not signed_in(elsewhere)
    finally:
        here.__exit__(None, None, None)
        elsewhere.__exit__(None, None, None)


def test_one_other_session_is_signed_out_by_itself(crm):
    user = make_user(crm, "sales")
    here, second, third = client_for(crm, user), client_for(crm, user), client_for(crm, user)
    stranger = make_user(crm, "sales")
    theirs = client_for(crm, stranger)
    try:
        page = here.get("/profile").text
        refs = re.findall(r'action="/profile/sessions/([0-9a-f]{16})/revoke"', page)
        assert len(refs) == 2  # one button per other browser, none for this one
        second_ref = next(
            info.ref
            for info in crm.sessions.list_for_user(
                Actor.system("tests"), user.id, current=second.cookies.get("cultiveat_session")
            )
            if info.current
        )
        assert second_ref in refs
        done = here.post(
            f"/profile/sessions/{second_ref}/revoke", data={"_csrf": csrf_of(page)}, follow_redirects=False
        )
        assert done.status_code == 303
        assert "That session was signed out." in here.get("/profile").text
        assert not signed_in(second) and signed_in(third) and signed_in(here)
        # a stranger's session can't be ended from here: the ref is looked up among one's own
        stranger_ref = crm.sessions.list_for_user(Actor.system("tests"), stranger.id)[0].ref
        again = here.post(
            f"/profile/sessions/{stranger_ref}/revoke", data={"_csrf": csrf_of(page)}, follow_redirects=True
        )
        assert "That session had already ended." in again.text and signed_in(theirs)
        # without the CSRF token nothing happens
        third_ref = next(r for r in refs if r != second_ref)
        refused = here.post(f"/profile/sessions/{third_ref}/revoke", data={}, follow_redirects=False)
        assert refused.status_code == 403 and signed_in(third)
    finally:
        for client in (here, second, third, theirs):
            client.__exit__(None, None, None)


def test_profile_needs_a_signed_in_user(crm):
    client = TestClient(create_app(crm, run_jobs=False))
    with client:
        response = client.get("/profile", follow_redirects=False)
        assert response.status_code == 303 and "/login" in response.headers["location"]
        assert client.post("/profile/password", data={}, follow_redirects=False).status_code in (
            303,
            403,
        )
