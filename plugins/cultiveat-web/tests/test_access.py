"""Anonymous redirects, login with MFA, CSRF on forms, and role-specific views."""

from __future__ import annotations

import re

import pyotp
import pytest
from litestar.testing import TestClient

from cultiveat_core.domain import Actor

from .conftest import PASSWORD, csrf_of, log_in, make_user

PAGES = [
    "/",
    "/contacts",
    "/contacts/new",
    "/contacts/1",
    "/contacts/1/edit",
    "/imports/new",
    "/admin",
    "/admin/users",
    "/admin/audit",
]


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_request_to_a_page_redirects_to_login(web_app, path):
    with TestClient(web_app) as client:
        response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


def test_login_with_wrong_password_says_what_to_do(web_app, crm):
    user = make_user(crm, "sales")
    with TestClient(web_app) as client:
        page = client.get("/login")
        response = client.post(
            "/login", data={"email": user.email, "password": "nope", "_csrf": csrf_of(page.text)}
        )
    assert response.status_code == 401
    assert "email or password is wrong" in response.text


def test_login_form_without_its_csrf_token_is_refused(web_app, crm):
    user = make_user(crm, "sales")
    with TestClient(web_app) as client:
        client.get("/login")
        response = client.post(
            "/login", data={"email": user.email, "password": PASSWORD, "_csrf": "forged"}
        )
        assert response.status_code == 403
        assert client.get("/", follow_redirects=False).status_code == 303


def test_admin_must_pass_mfa_before_any_page_opens(web_app, crm):
    admin = make_user(crm, "admin")
    with TestClient(web_app) as client:
        page = client.get("/login")
        response = client.post(
            "/login",
            data={"email": admin.email, "password": PASSWORD, "_csrf": csrf_of(page.text)},
            follow_redirects=False,
        )
        assert response.headers["location"].startswith("/login/mfa")
        assert client.get("/", follow_redirects=False).headers["location"].startswith("/login")
        enrol = client.get("/login/mfa")
        secret = re.search(r"data-totp-secret>([A-Z2-7]+)<", enrol.text).group(1)
        wrong = client.post("/login/mfa", data={"_csrf": csrf_of(enrol.text), "code": "000000"})
        assert wrong.status_code == 422 and "does not match" in wrong.text
        done = client.post(
            "/login/mfa",
            data={
                "_csrf": csrf_of(enrol.text),
                "code": pyotp.TOTP(secret).now(),
                "next": "/contacts",
            },
        )
        assert done.status_code == 200 and "recovery codes" in done.text
        assert client.get("/contacts").status_code == 200
        logout = client.post(
            "/logout", data={"_csrf": csrf_of(client.get("/").text)}, follow_redirects=False
        )
        assert logout.headers["location"] == "/login"
        assert client.get("/", follow_redirects=False).status_code == 303


def test_second_login_asks_for_the_code_and_accepts_a_recovery_code(web_app, crm):
    admin = make_user(crm, "admin")
    with TestClient(web_app) as client:
        log_in(client, crm, admin)
        client.cookies.clear()
        page = client.get("/login")
        client.post(
            "/login", data={"email": admin.email, "password": PASSWORD, "_csrf": csrf_of(page.text)}
        )
        mfa = client.get("/login/mfa")
        assert "data-totp-secret" not in mfa.text and "recovery codes" in mfa.text
        bad = client.post("/login/mfa", data={"_csrf": csrf_of(mfa.text), "code": "123456"})
        assert bad.status_code == 401
        codes = crm.auth.regenerate_recovery_codes(crm.users.actor_for(admin))
        ok = client.post(
            "/login/mfa",
            data={"_csrf": csrf_of(mfa.text), "code": codes[0], "next": "/"},
            follow_redirects=False,
        )
        assert ok.status_code == 303 and ok.headers["location"] == "/"
        assert client.get("/").status_code == 200


def test_a_form_posted_without_the_session_csrf_token_is_refused_and_changes_nothing(
    browser_for, crm
):
    client = browser_for("marketing")
    response = client.post(
        "/contacts/new",
        data={"first_name": "Eve", "last_name": "Forger", "email": "eve@example.com"},
    )
    assert response.status_code == 403
    assert "CSRF" in response.text
    with crm.engine.connect() as conn:
        assert crm.contacts.find_by_email(conn, "eve@example.com") is None


def test_next_after_login_stays_on_this_site(web_app, crm):
    user = make_user(crm, "sales")
    with TestClient(web_app) as client:
        page = client.get("/login?next=https://evil.example/")
        response = client.post(
            "/login",
            data={
                "email": user.email,
                "password": PASSWORD,
                "_csrf": csrf_of(page.text),
                "next": "https://evil.example/",
            },
            follow_redirects=False,
        )
    assert response.headers["location"] == "/"


def test_executive_sees_figures_but_no_way_to_change_contacts(browser_for, crm):
    crm.contacts.create(
        Actor.system("t"), {"first_name": "Ada", "last_name": "Byron", "email": "ada@example.com"}
    )
    client = browser_for("executive")
    listing = client.get("/contacts").text
    assert "Ada Byron" in listing
    assert (
        "Add contact" not in listing
        and 'name="contact_ids"' not in listing
        and "Import contacts" not in listing
    )
    nav = client.get("/").text
    assert 'href="/admin"' not in nav and 'href="/imports/new"' not in nav
    assert client.get("/contacts/new").status_code == 403
    assert client.get("/admin/users").status_code == 403


def test_sales_cannot_open_admin_pages_but_manages_own_tokens(browser_for):
    client = browser_for("sales")
    assert 'href="/contacts/new"' in client.get("/contacts").text
    assert client.get("/admin/users").status_code == 403
    assert client.get("/admin/audit").status_code == 403
    tokens = client.get("/admin/tokens")
    assert tokens.status_code == 200 and "Tokens of sales-" in tokens.text


def test_marketing_sees_import_and_bulk_actions(browser_for):
    client = browser_for("marketing")
    page = client.get("/contacts").text
    assert 'href="/imports/new"' in page and "Add tag" in page and "Export CSV" in page


def test_admin_sees_every_admin_section(browser_for):
    client = browser_for("admin")
    page = client.get("/admin").text
    for section in ("/admin/users", "/admin/tokens", "/admin/plugins", "/admin/audit"):
        assert f'href="{section}"' in page
    assert "web" in client.get("/admin/plugins").text
    assert "auth.login" in client.get("/admin/audit?action=auth.").text
