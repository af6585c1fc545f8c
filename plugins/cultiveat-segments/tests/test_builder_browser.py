"""Building a segment in a real browser (Debian's Chromium through Playwright) against a real
server: the script's live preview, adding a condition without reloading the page, an error
shown next to the failing row, and saving."""

from __future__ import annotations

import os
import re
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest
from cultiveat_segments.plugin import service

from cultiveat_core.services.sessions import SESSION_COOKIE
from cultiveat_core.web import create_app

from .data import SYSTEM
from .test_segments_api import _contacts

CHROMIUM = os.environ.get("CULTIVEAT_CHROMIUM", "/usr/bin/chromium")
playwright_api = pytest.importorskip("playwright.sync_api")
uvicorn = pytest.importorskip("uvicorn")
expect = playwright_api.expect


@pytest.fixture
def live(crm):
    _contacts(crm)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(crm, run_jobs=False), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the test server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    with playwright_api.sync_playwright() as pw:
        launched = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
        )
        yield launched
        launched.close()


def test_a_marketer_builds_and_saves_a_segment_in_the_browser(crm, live, browser):
    user = crm.users.create(SYSTEM, f"mk-{uuid.uuid4().hex[:6]}@example.com", "marketing", name="Mk")
    session = crm.sessions.start(user, mfa_passed=True)
    context = browser.new_context()
    context.add_cookies([{"name": SESSION_COOKIE, "value": session.id, "url": live}])
    page = context.new_page()
    page.goto(f"{live}/segments/builder")
    preview = page.locator("#preview")
    # the script previews the starting row (company_size > 100) as soon as the page loads
    expect(preview).to_contain_text("3 contacts match")
    page.evaluate("window.__sameDocument = true")

    page.fill("#r1-value", "2000")
    expect(preview).to_contain_text("2 contacts match")

    page.get_by_role("button", name="add a condition to this group").click()
    expect(page.locator("#r2-subject")).to_be_visible()
    page.select_option("#r2-subject", "field:position")
    # the subject change re-renders the row with text operators
    expect(page.locator("#r2-op option[value=is_c_level]")).to_have_count(1)
    page.select_option("#r2-op", "is_c_level")
    expect(preview).to_contain_text("1 contact match")
    expect(preview).to_contain_text("ceo@big.com")

    page.fill("#r1-value", "lots")
    expect(page.locator("#err-r1")).to_contain_text("must be a number")
    expect(page.locator(".cond[data-row=r1]")).to_have_attribute("aria-invalid", "true")
    page.fill("#r1-value", "2000")
    expect(page.locator("#err-r1")).to_be_hidden()
    expect(preview).to_contain_text("1 contact match")
    assert page.evaluate("window.__sameDocument") is True  # no reload so far

    page.fill("#seg-name", "Big-company CEOs")
    page.get_by_role("button", name="Save segment").click()
    page.wait_for_url(re.compile(r"/segments/builder\?segment=\d+&saved=1"))
    expect(page.locator(".message")).to_contain_text("Saved Big-company CEOs: 1 members")
    saved = service(crm).by_name(SYSTEM, "Big-company CEOs")
    assert saved["definition"] == {
        "all": [
            {"field": "company_size", "op": ">", "value": 2000},
            {"field": "position", "op": "is_c_level"},
        ]
    }
    context.close()
