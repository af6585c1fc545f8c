"""Passwords, login, lockout, sessions, CSRF and MFA over HTTP, as non-admin and admin users."""

from __future__ import annotations

import time
from datetime import timedelta

import pyotp
import sqlalchemy as sa

from cultiveat_core.db import tables
from cultiveat_core.db.metadata import utcnow
from cultiveat_core.domain import Actor
from cultiveat_core.errors import AccountLocked, AuthenticationFailed, PermissionDenied
from cultiveat_core.services.sessions import SESSION_COOKIE

from .conftest import PASSWORD, audit_actions, count, csrf, enrol_totp, login

CONTACT = {"email": "ann@example.com", "first_name": "Ann", "last_name": "Lee"}


def test_password_policy_and_argon2id(crm, make_user, client):
    for bad, why in [
        ("short", "at least 8"),
        ("password123", "too common"),
        ("x" * 129, "at most 128"),
    ]:
        response = client.post(
            "/api/users", json={"email": "p@example.com", "role": "sales", "password": bad}
        )
        assert response.status_code == 422, response.text
        assert why in response.text
    user = make_user("sales", password="a long passphrase with spaces")
    with crm.engine.connect() as conn:
        stored = conn.execute(
            sa.select(tables.users.c.password_hash).where(tables.users.c.id == user.id)
        ).scalar()
    assert stored.startswith("$argon2id$")
    assert "passphrase" not in stored


def test_session_login_cookie_attributes_and_csrf(crm, make_user, browser):
    user = make_user("sales")
    web = browser()
    response = login(web, user.email)
    assert response.status_code == 200, response.text
    assert response.json()["mfa_required"] is False
    cookie = response.headers["set-cookie"]
    assert (
        f"{SESSION_COOKIE}=" in cookie and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    )
    assert web.get("/api/contacts").status_code == 200
    # a state-changing request without the CSRF token is refused and changes nothing
    refused = web.post("/api/contacts", json=CONTACT)
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    wrong = web.post("/api/contacts", json=CONTACT, headers={"X-CSRF-Token": "forged"})
    assert wrong.status_code == 403
    assert count(crm, tables.contacts) == 0
    created = web.post("/api/contacts", json=CONTACT, headers=csrf(response))
    assert created.status_code == 201, created.text
    assert created.json()["owner_id"] == user.id


def test_cookie_secure_by_default(make_crm, make_user):
    crm = make_crm()
    assert crm.settings.cookie_secure is True
    assert crm.sessions.cookie_attributes()["secure"] is True


def test_session_fixation_impossible(crm, make_user, browser):
    user = make_user("marketing")
    web = browser()
    web.cookies.set(SESSION_COOKIE, "attacker-chosen-value", domain="testserver.local")
    first = login(web, user.email)
    assert first.status_code == 200
    issued = web.cookies.get(SESSION_COOKIE)
    assert issued and issued != "attacker-chosen-value"
    # logging in again rotates the id and ends the previous session
    second = login(web, user.email)
    rotated = web.cookies.get(SESSION_COOKIE)
    assert second.status_code == 200 and rotated != issued
    assert crm.sessions.resolve(issued) is None
    assert crm.sessions.resolve(rotated) is not None
    # the fixed value never became a session
    assert crm.sessions.resolve("attacker-chosen-value") is None


def test_idle_and_absolute_timeouts_and_logout(crm, make_user, browser):
    user = make_user("executive")
    web = browser()
    assert login(web, user.email).status_code == 200
    session_id = web.cookies.get(SESSION_COOKIE)
    s = tables.sessions
    from cultiveat_core.services.sessions import session_hash

    with crm.begin() as conn:
        conn.execute(
            s.update()
            .where(s.c.id_hash == session_hash(session_id))
            .values(last_seen_at=utcnow() - timedelta(minutes=31))
        )
    assert web.get("/api/contacts").status_code == 401
    assert login(web, user.email).status_code == 200
    session_id = web.cookies.get(SESSION_COOKIE)
    with crm.begin() as conn:
        conn.execute(
            s.update()
            .where(s.c.id_hash == session_hash(session_id))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert web.get("/api/contacts").status_code == 401
    response = login(web, user.email)
    assert web.get("/api/contacts").status_code == 200
    assert web.post("/auth/logout", headers=csrf(response)).status_code == 204
    web.cookies.clear()
    web.cookies.set(SESSION_COOKIE, session_id, domain="testserver.local")
    assert web.get("/api/contacts").status_code == 401


def test_lockout_after_failures_with_clear_message(crm, make_user, browser):
    user = make_user("sales")
    web = browser()
    for _ in range(crm.settings.login_max_failures):
        wrong = login(web, user.email, "not the password")
        assert wrong.status_code == 401
        assert "locked" in wrong.json()["detail"]
    locked = login(web, user.email, PASSWORD)
    assert locked.status_code == 429
    assert "try again in 15 minutes" in locked.json()["detail"]
    assert len(audit_actions(crm, "auth.login_failed")) == crm.settings.login_max_failures
    # an unknown email answers exactly like a wrong password
    unknown = login(web, "nobody@example.com", "whatever")
    assert unknown.status_code == 401 and unknown.json()["detail"] == wrong.json()["detail"]


def test_admin_needs_totp_enrolment_then_codes_are_single_use(crm, make_user, browser):
    admin = make_user("admin")
    web = browser()
    first = login(web, admin.email)
    assert first.json()["mfa_required"] is True and first.json()["mfa_enrolment_required"] is True
    assert web.get("/api/contacts").status_code == 401  # password alone is not enough
    enrol = web.post("/auth/mfa/enrol", headers=csrf(first))
    assert enrol.status_code == 200, enrol.text
    assert (
        enrol.json()["qr_svg"].lstrip().startswith("<?xml")
        and "otpauth://" in enrol.json()["otpauth_uri"]
    )
    secret = enrol.json()["secret"]
    code = pyotp.TOTP(secret).now()
    confirmed = web.post("/auth/mfa/enrol/confirm", json={"code": code}, headers=csrf(first))
    assert confirmed.status_code == 200, confirmed.text
    recovery = confirmed.json()["recovery_codes"]
    assert len(recovery) == 10
    assert web.get("/api/contacts").status_code == 200
    assert audit_actions(crm, "auth.mfa_enabled")

    # a new login: the enrolment code is spent (replay), a later step's code works once
    other = browser()
    pending = login(other, admin.email)
    assert (
        pending.json()["mfa_required"] is True and pending.json()["mfa_enrolment_required"] is False
    )
    replay = other.post("/auth/mfa", json={"code": code}, headers=csrf(pending))
    assert replay.status_code == 401
    assert other.get("/api/contacts").status_code == 401
    next_code = pyotp.TOTP(secret).at(time.time() + 30)
    passed = other.post("/auth/mfa", json={"code": next_code}, headers=csrf(pending))
    assert passed.status_code == 200, passed.text
    assert other.get("/api/contacts").status_code == 200
    third = browser()
    pending = login(third, admin.email)
    assert (
        third.post("/auth/mfa", json={"code": next_code}, headers=csrf(pending)).status_code == 401
    )
    # recovery codes work once
    assert (
        third.post("/auth/mfa", json={"code": recovery[0]}, headers=csrf(pending)).status_code
        == 200
    )
    fourth = browser()
    pending = login(fourth, admin.email)
    assert (
        fourth.post("/auth/mfa", json={"code": recovery[0]}, headers=csrf(pending)).status_code
        == 401
    )


def test_mfa_for_a_non_admin_role_is_configurable(make_crm, browser_factory=None):
    crm = make_crm(cookie_secure=False, mfa_roles=("admin", "sales"))
    user = crm.users.create(Actor.system("t"), "s@example.com", "sales", password=PASSWORD)
    result = crm.auth.login("s@example.com", PASSWORD)
    assert result.mfa_required and result.mfa_enrolment_required
    assert crm.auth.mfa_required_for(user)


def test_password_reset_link_single_use_and_keeps_mfa(crm, make_user, browser):
    user = make_user("marketing")
    enrol_totp(crm, user)
    token = crm.auth.request_password_reset(user.email)
    assert crm.auth.request_password_reset("nobody@example.com") is None
    web = browser()
    ok = web.post(
        "/auth/password-reset", json={"token": token, "password": "a brand new passphrase"}
    )
    assert ok.status_code == 204, ok.text
    again = web.post(
        "/auth/password-reset", json={"token": token, "password": "another new passphrase"}
    )
    assert again.status_code == 401
    response = login(web, user.email, "a brand new passphrase")
    assert response.json()["mfa_required"] is True  # the reset did not bypass MFA
    assert web.get("/api/contacts").status_code == 401
    assert login(web, user.email, PASSWORD).status_code == 401


def test_password_change_ends_sessions(crm, make_user, browser):
    user = make_user("sales")
    web = browser()
    login(web, user.email)
    assert web.get("/api/contacts").status_code == 200
    crm.auth.set_password(crm.users.actor_for(user), user.id, "my second passphrase")
    assert web.get("/api/contacts").status_code == 401


def test_deactivated_user_loses_session_and_tokens(crm, make_user, browser, client):
    user = make_user("sales")
    web = browser()
    login(web, user.email)
    assert web.get("/api/contacts").status_code == 200
    assert client.patch(f"/api/users/{user.id}", json={"is_active": False}).status_code == 200
    assert web.get("/api/contacts").status_code == 401
    assert login(web, user.email).status_code == 401


def test_one_session_is_listed_and_revoked_without_the_others(crm, make_user, browser):
    user, other = make_user("sales"), make_user("sales")
    first, second = browser(), browser()
    login(first, user.email)
    login(second, user.email)
    me = crm.users.actor_for(user)
    sessions = crm.sessions.list_for_user(me, user.id, current=first.cookies.get(SESSION_COOKIE))
    assert len(sessions) == 2 and [s.current for s in sessions].count(True) == 1
    # a ref names a session but is neither the cookie nor the stored hash
    assert all(len(s.ref) == 16 and s.ref not in (first.cookies.get(SESSION_COOKIE) or "") for s in sessions)
    second_ref = next(s.ref for s in sessions if not s.current)
    # another sales user may neither list nor end this user's sessions
    stranger = crm.users.actor_for(other)
    for call in (
        lambda: crm.sessions.list_for_user(stranger, user.id),
        lambda: crm.sessions.revoke(stranger, user.id, second_ref),
    ):
        try:
            call()
        except PermissionDenied:
            pass
        else:
            raise AssertionError("a sales user reached another user's sessions")
    assert crm.sessions.revoke(me, user.id, "not-a-ref") is False
    assert crm.sessions.revoke(me, user.id, second_ref) is True
    assert crm.sessions.revoke(me, user.id, second_ref) is False  # already ended
    assert second.get("/api/contacts").status_code == 401
    assert first.get("/api/contacts").status_code == 200
    assert len(audit_actions(crm, "session.revoke")) == 1


def test_changing_ones_password_needs_the_current_one_and_counts_towards_lockout(crm, make_user):
    user = make_user("sales")
    me = crm.users.actor_for(user)
    for _ in range(crm.settings.login_max_failures):
        try:
            crm.auth.change_own_password(me, "not it", "a brand new passphrase 9")
        except AccountLocked:
            raise AssertionError("locked before the limit") from None
        except AuthenticationFailed as exc:
            assert "current password is wrong" in exc.message
    try:
        crm.auth.change_own_password(me, PASSWORD, "a brand new passphrase 9")
        raise AssertionError("a locked account changed its password")
    except AccountLocked as exc:
        assert exc.status == 429
    assert len(audit_actions(crm, "user.password_change_failed")) == crm.settings.login_max_failures
    assert audit_actions(crm, "auth.login_failed") == []
    crm.auth.set_password(Actor.system("tests"), user.id, "reset by an admin 42")  # clears failures
    crm.auth.change_own_password(me, "reset by an admin 42", "a brand new passphrase 9")
    assert crm.auth.login(user.email, "a brand new passphrase 9").user.id == user.id


def test_password_change_over_the_api_needs_the_current_password(crm, make_user, browser):
    user = make_user("sales")
    web = browser()
    headers = csrf(login(web, user.email))
    new = "a brand new passphrase 9"
    missing = web.post("/api/users/me/password", json={"password": new}, headers=headers)
    assert missing.status_code == 400 and "current_password" in missing.text
    wrong = web.post(
        "/api/users/me/password", json={"password": new, "current_password": "nope"}, headers=headers
    )
    assert wrong.status_code == 401 and "current password is wrong" in wrong.text
    assert web.get("/api/contacts").status_code == 200  # nothing changed, still signed in
    done = web.post(
        "/api/users/me/password", json={"password": new, "current_password": PASSWORD}, headers=headers
    )
    assert done.status_code == 204
    assert web.get("/api/contacts").status_code == 401  # every session ended
    assert crm.auth.login(user.email, new).user.id == user.id
