"""End to end in Debian's Chromium driven by Playwright, against a real server and database.

One journey through the product (login with MFA, add a contact after a validation error,
search and filter, tabs, a call and a note, an import through the wizard, a bulk tag, dark
mode), then screenshots of every screen in both themes at desktop and phone widths, with an
accessibility check (labels, contrast) on each. Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest

from cultiveat_core.demo import load_demo
from cultiveat_core.domain import Actor
from cultiveat_core.web import create_app

from .conftest import PASSWORD, make_user
from .live_server import serve

CHROMIUM = os.environ.get("CULTIVEAT_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
expect.set_options(timeout=15000)  # the machine running the tests may be busy

# Every visible form control must have an accessible name; text must reach WCAG AA contrast.
A11Y_AUDIT = """() => {
  const problems = [];
  const controls = document.querySelectorAll('input:not([type=hidden]), select, textarea, button');
  for (const el of controls) {
    if (el.closest('[hidden]') || el.closest('dialog:not([open])')) continue;
    const labelled = el.labels && el.labels.length || el.getAttribute('aria-label') ||
      el.getAttribute('aria-labelledby') || (el.tagName === 'BUTTON' && el.textContent.trim());
    if (!labelled) problems.push('unlabelled ' + el.tagName + ' ' + (el.name || el.id));
  }
  const channel = c => { c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); };
  const parse = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = rgb => 0.2126 * channel(rgb[0]) + 0.7152 * channel(rgb[1]) + 0.0722 * channel(rgb[2]);
  const background = el => {
    for (let n = el; n; n = n.parentElement) {
      const c = parse(getComputedStyle(n).backgroundColor);
      if (c.length >= 3 && (c.length < 4 || c[3] > 0.5)) return c;
    }
    return [255, 255, 255];
  };
  const texts = document.querySelectorAll('h1, h2, p, a, button, label, td, th, .badge, .tag, summary, li');
  let checked = 0;
  for (const el of texts) {
    if (!el.offsetParent || !el.textContent.trim()) continue;
    const fg = parse(getComputedStyle(el).color), bg = background(el);
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    checked++;
    if (ratio < 4.5) problems.push('contrast ' + ratio.toFixed(2) + ' on ' + el.tagName + ' "' + el.textContent.trim().slice(0, 30) + '"');
  }
  return {problems: problems.slice(0, 10), checked};
}"""


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    with playwright_api.sync_playwright() as pw:
        launched = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--disable-extensions",
            ],
        )
        yield launched
        launched.close()


@pytest.fixture
def live(crm):
    load_demo(crm, 120)
    with serve(create_app(crm, run_jobs=True)) as url:
        yield url


def audit(page, where: str) -> None:
    result = page.evaluate(A11Y_AUDIT)
    assert result["checked"] > 0
    assert not result["problems"], f"{where}: {result['problems']}"


def shoot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def log_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/contacts")
    assert "/login" in page.url
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/login/mfa"))
    secret = page.locator("[data-totp-secret]").inner_text()
    page.get_by_label("Code from your authenticator app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Verify").click()
    page.get_by_role("heading", name="Save your recovery codes").wait_for()
    page.get_by_role("link", name="Continue").click()
    page.wait_for_url(re.compile(r"/contacts$"))


@pytest.mark.timeout(900)  # one long journey plus 36 screenshots; slow on a busy machine
def test_a_user_works_through_the_crm_in_a_real_browser(
    crm, live, browser, tmp_path, cultiveat_backend
):
    admin = make_user(crm, "admin")
    context = browser.new_context(viewport=DESKTOP, color_scheme="light")
    page = context.new_page()
    page.set_default_timeout(15000)

    # login with MFA (enrolment on the first login, as the admin role requires)
    page.goto(f"{live}/login")
    audit(page, "login")
    log_in(page, live, admin.email)

    # add a contact: a validation error next to the field, then a valid one
    page.goto(f"{live}/contacts/new")
    page.get_by_label("First name").fill("Grace")
    page.get_by_label("Email").fill("not-an-email")
    page.get_by_role("button", name="Add contact").click()
    error = page.locator("#email-error")
    error.wait_for()
    assert page.locator("#email").get_attribute("aria-invalid") == "true"
    assert page.locator("#last_name-error").is_visible()
    page.get_by_label("Last name").fill("Hopper")
    page.get_by_label("Email").fill("grace@navy.example")
    page.get_by_label("Company", exact=True).fill("Navy Labs")
    page.get_by_label("Position").fill("Rear Admiral")
    page.get_by_label("Status").select_option("Qualified")
    page.get_by_label("Tags").fill("Pioneer, COBOL")
    assert page.locator('[data-preview-out="name"]').inner_text() == "Grace Hopper"
    assert page.locator("[data-preview-avatar]").inner_text() == "GH"
    page.get_by_role("button", name="Add contact").click()
    page.get_by_role("heading", name="Grace Hopper").wait_for()
    contact_url = page.url

    # find it by search (live filtering) and by the stage filter
    page.goto(f"{live}/contacts")
    page.get_by_label("Search", exact=True).fill("hopper")
    page.locator("tr", has_text="Grace Hopper").wait_for()
    expect(page.locator("table.contacts tbody tr")).to_have_count(1)
    page.get_by_label("Search", exact=True).fill("")
    page.locator("summary", has_text="Stage").click()
    page.get_by_label("Qualified").check()
    expect(page).to_have_url(re.compile(r"/contacts\?stage=Qualified$"), timeout=15000)
    page.locator("tr", has_text="Grace Hopper").wait_for()
    assert page.locator("tr", has_text="Grace Hopper").count() == 1

    # detail: switch tabs, add a note (counter, Ctrl+Enter), log a call in the dialog
    page.goto(contact_url)
    page.get_by_role("tab", name="Notes").click()
    assert (
        page.locator("#panel-notes").is_visible()
        and not page.locator("#panel-activity").is_visible()
    )
    note = page.get_by_label("New note")
    note.fill("Asked for a demo of the compiler.")
    assert page.locator("#note-count").inner_text() == "33/2000 characters"
    note.press("Control+Enter")
    page.locator(".note-text", has_text="Asked for a demo").wait_for()
    page.get_by_role("link", name="Call").first.click()
    dialog = page.locator("#call-dialog")
    assert dialog.is_visible()
    dialog.get_by_label("Call purpose").select_option("Product Demo")
    dialog.get_by_label("Outcome").select_option("Completed")
    dialog.get_by_label("Duration (minutes)").fill("15")
    dialog.get_by_role("button", name="Log call").click()
    page.locator("#panel-activity").wait_for()
    assert page.locator("#panel-activity .timeline-item", has_text="Product Demo").count() == 1
    page.get_by_role("tab", name="Activity").focus()
    page.keyboard.press("ArrowRight")
    assert page.locator("#panel-notes").is_visible()

    # edit in the dialog (the link opens a <dialog> with the edit page's form)
    page.get_by_role("link", name="Edit contact").click()
    edit = page.locator("#edit-dialog")
    assert edit.is_visible() and "/edit" not in page.url
    edit.get_by_label("Position").fill("Commodore")
    edit.get_by_role("button", name="Save changes").click()
    page.locator(".flash", has_text="saved").wait_for()
    assert "Commodore" in page.locator(".contact-title").inner_text()

    # activity history: grouped by day, 25 a page, older ones load as the list scrolls
    contact_id = int(contact_url.rstrip("/").rsplit("/", 1)[1])
    crm.activities.log_many(
        Actor.system("browser test"),
        [
            {"contact_id": contact_id, "type": "note", "data": {"text": f"Older note {i}"},
             "occurred_at": datetime.now(UTC) - timedelta(days=1 + i // 12, minutes=i)}
            for i in range(30)
        ],
    )
    page.goto(contact_url + "?tab=activity")
    items = page.locator("#panel-activity .timeline-item")
    expect(items).to_have_count(25)
    assert page.locator("#panel-activity .day-head").count() >= 2
    page.locator("#panel-activity a[data-more]").scroll_into_view_if_needed()
    total = len(crm.activities.timeline(Actor.system("browser test"), contact_id, limit=200))
    assert total > 25
    expect(items).to_have_count(total)
    expect(page.locator("#panel-activity a[data-more]")).to_have_count(0)
    days = page.eval_on_selector_all("#panel-activity [data-day]", "els => els.map(e => e.dataset.day)")
    assert len(days) == len(set(days)), f"a day header repeated after loading more: {days}"

    # import a CSV through the wizard: upload, mapping, dry run, import, result with row errors
    sheet = tmp_path / "people.csv"
    sheet.write_text(
        "First Name,Last Name,E-mail,Company\nAlan,Turing,alan@bletchley.example,Bletchley\n"
        "Ada,Lovelace,ada@engine.example,Analytical\nNo,Email,not-an-email,Nowhere\n"
    )
    page.goto(f"{live}/imports/new")
    page.get_by_label("CSV file").set_input_files(str(sheet))
    page.get_by_role("button", name="Upload and map columns").click()
    page.get_by_role("heading", name=re.compile("Map the columns")).wait_for()
    assert page.get_by_label("Field for column E-mail").input_value() == "email"
    page.get_by_role("button", name=re.compile("dry run")).click()
    page.get_by_role("heading", name=re.compile("Dry run report")).wait_for(timeout=30000)
    assert page.locator('[data-result="created"]').inner_text() == "2"
    page.get_by_role("button", name=re.compile(r"Import 2 contacts now")).click()
    page.get_by_role("heading", name="Import finished").wait_for(timeout=30000)
    assert page.locator('[data-result="errors"]').inner_text() == "1"
    with page.expect_download() as download:
        page.get_by_role("link", name="Download row errors (CSV)").click()
    assert (
        "not-an-email" in Path(download.value.path()).read_text()
        or "email" in Path(download.value.path()).read_text()
    )

    # keyset pages: Next carries a cursor; a filtered page's count arrives after rendering
    page.goto(f"{live}/contacts")
    row_ids = 'els => els.map(e => e.dataset.contactId)'
    first_rows = page.eval_on_selector_all("tr[data-contact-id]", row_ids)
    page.get_by_role("link", name="Next →").click()
    page.wait_for_url(re.compile(r"cursor="))
    assert not set(first_rows) & set(page.eval_on_selector_all("tr[data-contact-id]", row_ids))
    page.get_by_role("link", name="← Previous").click()
    page.wait_for_url(re.compile(r"before="))
    assert page.eval_on_selector_all("tr[data-contact-id]", row_ids) == first_rows
    page.goto(f"{live}/contacts?stage=Qualified")
    expect(page.locator("[data-count-from]")).to_have_count(0)
    assert re.match(r"\d+\+? contacts? match", page.locator(".result-count").inner_text())

    # bulk-tag two contacts
    page.goto(f"{live}/contacts?q=bletchley")
    page.goto(f"{live}/contacts")
    boxes = page.locator('input[name="contact_ids"]')
    boxes.nth(0).check()
    boxes.nth(1).check()
    assert page.locator("[data-selected-count]").inner_text() == "2 selected"
    page.get_by_label("Tag to add").fill("Shortlist")
    page.get_by_role("button", name="Add tag").click()
    page.locator(".flash", has_text="Shortlist").wait_for()
    page.goto(f"{live}/contacts?tag=Shortlist")
    assert page.locator("table.contacts tbody tr").count() == 2

    # dark mode: toggled at once, remembered after a reload
    page.goto(f"{live}/")
    with page.expect_response(lambda r: "/preferences/theme" in r.url):
        page.locator("[data-theme-toggle] button").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    page.reload()
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    page.locator("[data-theme-toggle] button").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "light")

    # profile: from the top bar; change the password (current one, the new one twice)
    page.goto(f"{live}/")
    page.locator("a.who").click()
    page.get_by_role("heading", name="Your profile").wait_for()
    assert page.locator(".current-session").count() == 1
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("purple elephants juggle quietly 7")
    page.get_by_label("New password again").fill("purple elephants juggle quietly 8")
    page.get_by_role("button", name="Change password").click()
    page.locator("#confirm_password-error").wait_for()
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("purple elephants juggle quietly 7")
    page.get_by_label("New password again").fill("purple elephants juggle quietly 7")
    page.get_by_role("button", name="Change password").click()
    page.locator(".flash", has_text="Password changed").wait_for()

    # keyboard: the first Tab reaches the skip link
    page.goto(f"{live}/contacts")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"

    # every screen, both themes, desktop and phone: screenshot and accessibility audit
    cookies = context.cookies()
    screens = {
        "dashboard": "/",
        "contacts": "/contacts",
        "contact-form": "/contacts/new",
        "contact-detail": contact_url.removeprefix(live),
        "import": "/imports/new",
        "admin-users": "/admin/users",
        "audit": "/admin/audit",
        "profile": "/profile",
    }
    for theme in ("light", "dark"):
        for size_name, size in (("desktop", DESKTOP), ("phone", PHONE)):
            view = browser.new_context(viewport=size, color_scheme=theme)
            view.add_cookies([c for c in cookies if c["name"] != "cultiveat_theme"])
            shot = view.new_page()
            for name, path in screens.items():
                shot.goto(f"{live}{path}")
                audit(shot, f"{name} {theme} {size_name}")
                if size_name == "phone":
                    width = shot.evaluate("document.documentElement.scrollWidth")
                    assert width <= size["width"] + 1, (
                        f"{name} scrolls sideways on a phone ({width}px)"
                    )
                shoot(shot, f"{cultiveat_backend}-{name}-{theme}-{size_name}")
            anonymous = browser.new_context(viewport=size, color_scheme=theme).new_page()
            anonymous.goto(f"{live}/login")
            audit(anonymous, f"login {theme} {size_name}")
            shoot(anonymous, f"{cultiveat_backend}-login-{theme}-{size_name}")
            anonymous.context.close()
            view.close()
    context.close()
