"""Server-side behaviour of the pages: list filters, forms, detail tabs, layout, plugin slots."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import cultiveat_web.plugin
import pytest
import sqlalchemy as sa
from litestar.testing import TestClient

from cultiveat_core import hookimpl
from cultiveat_core.db import tables
from cultiveat_core.domain import (
    Actor,
    BulkAction,
    ContactPanel,
    ContactTab,
    DashboardWidget,
    ListColumn,
    Permission,
)

from .conftest import csrf_of, log_in, make_user

SYSTEM = Actor.system("tests")


def add(crm, first, last, **extra):
    return crm.contacts.create(
        SYSTEM,
        {
            "first_name": first,
            "last_name": last,
            "email": f"{first}.{last}@example.com".lower(),
            **extra,
        },
    )


def rows(html: str) -> list[str]:
    return re.findall(r'class="contact-name">([^<]+)<', html)


def test_search_matches_name_company_position_and_tags(browser_for, crm):
    add(crm, "Grace", "Hopper", company="Navy Labs", position="Admiral", tags=["Pioneer"])
    add(crm, "Alan", "Turing", company="Bletchley", position="Cryptanalyst")
    client = browser_for("sales")
    for term in ("hopper", "navy", "admiral", "pioneer"):
        assert rows(client.get(f"/contacts?q={term}").text) == ["Grace Hopper"], term
    assert rows(client.get("/contacts?q=bletchley+cryptanalyst").text) == ["Alan Turing"]


def test_filters_combine_and_bad_values_are_explained(browser_for, crm):
    add(
        crm, "Grace", "Hopper", stage="Qualified", type="Partner", channel="Webinar", company="Navy"
    )
    add(
        crm,
        "Alan",
        "Turing",
        stage="Hot Lead",
        type="Prospect",
        channel="Event",
        company="Bletchley",
    )
    client = browser_for("sales")
    assert rows(client.get("/contacts?stage=Qualified&stage=Hot+Lead").text) == [
        "Alan Turing",
        "Grace Hopper",
    ]
    assert rows(client.get("/contacts?stage=Hot+Lead&channel=Webinar").text) == []
    assert rows(client.get("/contacts?company=navy&type=Partner").text) == ["Grace Hopper"]
    today = datetime.now(UTC).date()
    assert len(rows(client.get(f"/contacts?created_from={today}&created_to={today}").text)) == 2
    bad = client.get("/contacts?created_from=yesterday")
    assert (
        bad.status_code == 200
        and "created_from: &#39;yesterday&#39; is not a date; use YYYY-MM-DD" in bad.text
    )


def test_rows_without_activity_for_30_days_are_marked_stale(browser_for, crm):
    old = add(crm, "Old", "Friend")
    add(crm, "New", "Friend")
    with crm.engine.begin() as conn:
        conn.execute(
            tables.contacts.update()
            .where(tables.contacts.c.id == old.id)
            .values(created_at=datetime.now(UTC) - timedelta(days=40))
        )
    client = browser_for("sales")
    html = client.get("/contacts").text
    stale_rows = re.findall(r'<tr class="stale" data-contact-id="(\d+)"', html)
    assert stale_rows == [str(old.id)]
    assert rows(client.get("/contacts?stale=1").text) == ["Old Friend"]


def test_fifty_contacts_per_page_with_tag_overflow(browser_for, crm):
    crm.contacts.create_many(
        SYSTEM,
        [
            {
                "first_name": "P",
                "last_name": f"N{i:03d}",
                "email": f"p{i}@example.com",
                "tags": ["a", "b", "c", "d"],
            }
            for i in range(55)
        ],
    )
    client = browser_for("sales")
    first = client.get("/contacts").text
    assert len(rows(first)) == 50 and "1\u201350 of 55" in plain(first)
    assert 'rel="prev"' not in first
    assert first.count('aria-label="2 more tags"') == 50
    second = client.get(next_link(first)).text
    assert len(rows(second)) == 5 and "51\u201355 of 55" in plain(second)
    assert not set(rows(first)) & set(rows(second))
    assert 'rel="next"' not in second
    back = client.get(link(second, "prev")).text
    assert rows(back) == rows(first) and "1\u201350 of 55" in plain(back) and 'rel="prev"' not in back


def plain(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def link(html: str, rel: str) -> str:
    found = re.search(rf'href="([^"]+)" rel="{rel}"', html)
    assert found, f"no {rel} link"
    return "/contacts" + found.group(1).replace("&amp;", "&")


def next_link(html: str) -> str:
    return link(html, "next")


def test_keyset_pages_through_filters_with_a_capped_count(browser_for, crm, monkeypatch):
    from cultiveat_web import contact_list

    monkeypatch.setattr(contact_list, "COUNT_CAP", 60)
    crm.contacts.create_many(
        SYSTEM,
        [
            {
                "first_name": "Q",
                "last_name": f"M{i:03d}",
                "email": f"q{i}@example.com",
                "stage": "Qualified" if i % 2 else "Nurturing",
            }
            for i in range(150)
        ],
    )
    client = browser_for("sales")
    html = client.get("/contacts?stage=Qualified").text
    # the page does not count a filtered list: it says what it knows and where the count is
    assert "50+</strong> contacts match" in html
    count_url = re.search(r'data-count-from="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert client.get(count_url).json() == {"count": 60, "capped": True, "label": "60+"}
    pages = [html]
    while 'rel="next"' in html:
        html = client.get(next_link(html)).text
        pages.append(html)
    seen = [name for page in pages for name in rows(page)]
    assert len(seen) == 75 == len(set(seen))
    assert seen == sorted(seen, key=lambda n: int(n.split("M")[1]), reverse=True)
    assert "51\u201375 of 75" in plain(pages[-1]) and "stage=Qualified" in link(pages[-1], "prev")
    # a result under the cap is counted exactly
    assert "1</strong> contact match" in client.get("/contacts?q=M001").text
    assert client.get("/contacts/count?q=M001").json()["label"] == "1"
    assert client.get("/contacts/count?created_from=nope").status_code == 422
    bad = client.get("/contacts?cursor=nonsense")
    assert bad.status_code == 422 and "cursor" in bad.text


def test_sensitive_fields_are_masked_in_the_list_and_export(browser_for, crm):
    add(crm, "Ada", "Lovelace", phone="+44 20 7946 0958")
    executive = browser_for("executive")
    html = executive.get("/contacts").text
    assert "Ada Lovelace" in html and "7946" not in html and "58" in html
    assert 'href="tel:' not in html
    sales = browser_for("sales").get("/contacts").text
    assert "7946" in sales and 'href="tel:' in sales


def test_add_contact_shows_errors_next_to_fields_and_saves_nothing(browser_for, crm):
    client = browser_for("marketing")
    page = client.get("/contacts/new")
    response = client.post(
        "/contacts/new",
        data={
            "_csrf": csrf_of(page.text),
            "first_name": "Grace",
            "last_name": "",
            "email": "nope",
            "action": "save",
        },
    )
    assert response.status_code == 422
    assert 'id="email-error"' in response.text and 'id="last_name-error"' in response.text
    assert 'aria-describedby="email-error"' in response.text
    with crm.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.contacts)).scalar() == 0
    preview = client.post(
        "/contacts/new",
        data={
            "_csrf": csrf_of(page.text),
            "first_name": "Grace",
            "last_name": "Hopper",
            "email": "g@example.com",
            "position": "Admiral",
            "company": "Navy",
            "action": "preview",
        },
    )
    assert (
        preview.status_code == 200 and "Admiral at Navy" in preview.text and ">GH<" in preview.text
    )
    saved = client.post(
        "/contacts/new",
        data={
            "_csrf": csrf_of(page.text),
            "first_name": "Grace",
            "last_name": "Hopper",
            "email": "g@example.com",
            "tags": "A, B",
            "action": "save",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    contact_id = int(saved.headers["location"].rsplit("/", 1)[1])
    assert set(crm.contacts.get(SYSTEM, contact_id).tags) >= {"A", "B"}


def test_duplicate_email_is_reported_on_the_email_field(browser_for, crm):
    add(crm, "Grace", "Hopper")
    client = browser_for("marketing")
    page = client.get("/contacts/new")
    response = client.post(
        "/contacts/new",
        data={
            "_csrf": csrf_of(page.text),
            "first_name": "G",
            "last_name": "H",
            "email": "grace.hopper@example.com",
        },
    )
    assert (
        response.status_code == 409
        and 'id="email-error"' in response.text
        and "already exists" in response.text
    )


def test_detail_logs_notes_and_calls_through_the_activity_service(browser_for, crm):
    contact = add(crm, "Grace", "Hopper", stage="Hot Lead")
    client = browser_for("sales")
    page = client.get(f"/contacts/{contact.id}")
    assert (
        'class="hot-lead"' in page.text and "Back to Contacts" in page.text and ">GH<" in page.text
    )
    token = csrf_of(page.text)
    too_long = client.post(
        f"/contacts/{contact.id}/notes", data={"_csrf": token, "text": "x" * 2001}
    )
    assert too_long.status_code == 422 and "at most 2000 characters" in too_long.text
    client.post(
        f"/contacts/{contact.id}/notes",
        data={"_csrf": token, "text": "Likes demos", "note_type": "Sales"},
    )
    notes = client.get(f"/contacts/{contact.id}?tab=notes").text
    assert "Likes demos" in notes and "Sales Note" in notes
    bad_call = client.post(f"/contacts/{contact.id}/call", data={"_csrf": token, "purpose": "Chat"})
    assert bad_call.status_code == 422 and "is not one of" in bad_call.text
    client.post(
        f"/contacts/{contact.id}/call",
        data={"_csrf": token, "purpose": "Discovery", "status": "Busy"},
    )
    calls = crm.activities.timeline(SYSTEM, contact.id, types=["call"])
    assert [(c.data["purpose"], c.data["status"]) for c in calls] == [("Discovery", "Busy")]


def test_bulk_tag_and_stage_change_selected_contacts_only(browser_for, crm):
    a, b, c = add(crm, "A", "One"), add(crm, "B", "Two"), add(crm, "C", "Three")
    client = browser_for("marketing")
    token = csrf_of(client.get("/contacts").text)
    client.post(
        "/contacts/bulk",
        data={"_csrf": token, "bulk": "tag", "tag": "Shortlist", "contact_ids": [a.id, b.id]},
    )
    client.post(
        "/contacts/bulk",
        data={"_csrf": token, "bulk": "stage", "stage": "Customer", "contact_ids": [b.id]},
    )
    assert (
        "Shortlist" in crm.contacts.get(SYSTEM, a.id).tags
        and "Shortlist" not in crm.contacts.get(SYSTEM, c.id).tags
    )
    assert (
        crm.contacts.get(SYSTEM, b.id).stage == "Customer"
        and crm.contacts.get(SYSTEM, a.id).stage != "Customer"
    )


def test_export_escapes_formula_cells(browser_for, crm):
    crm.contacts.create(
        SYSTEM,
        {
            "first_name": "=HYPERLINK(1)",
            "last_name": "Evil",
            "email": "evil@example.com",
            "company": "+cmd",
        },
    )
    client = browser_for("marketing")
    text = client.get("/contacts/export").text
    assert "'=HYPERLINK(1)" in text and "'+cmd" in text


def test_dashboard_arrangement_is_remembered_per_user(crm, browser_for):
    first, second = browser_for("admin"), browser_for("admin")
    page = first.get("/")
    order = re.findall(r'data-widget="([^"]+)"', page.text)
    assert order[:3] == ["kpis", "hot_leads", "recent_activity"]
    first.post(
        "/dashboard/layout",
        data={"_csrf": csrf_of(page.text), "widget": "recent_activity", "move": "up"},
    )
    assert re.findall(r'data-widget="([^"]+)"', first.get("/").text)[:3] == [
        "kpis",
        "recent_activity",
        "hot_leads",
    ]
    assert re.findall(r'data-widget="([^"]+)"', second.get("/").text)[:3] == order[:3]
    bad = first.post("/dashboard/layout", data={"_csrf": csrf_of(page.text), "widgets": '["nope"]'})
    assert bad.status_code == 422


class ExamplePlugin:
    """Contributes to every UI slot; one renderer fails, one needs a permission nobody has."""

    @hookimpl
    def register_permissions(self):
        return [Permission("example.secret", "Secret things", ())]

    @hookimpl
    def register_ui(self):
        def boom(**_):
            raise RuntimeError("broken")

        return [
            ContactTab(
                name="campaign",
                label="Campaigns",
                order=10,
                render=lambda **kw: "<p>campaign tab</p>",
            ),
            ContactTab(name="ai", label="AI", order=70, render=boom),
            ContactTab(
                name="secret",
                label="Secret",
                order=75,
                permission="example.secret",
                render=lambda **kw: "secret",
            ),
            ContactPanel(
                name="hot",
                label="Hot lead alert",
                render=lambda contact, **kw: (
                    "<p>HOT LEAD ALERT</p>" if contact.stage == "Hot Lead" else ""
                ),
            ),
            DashboardWidget(
                name="pipeline", label="Pipeline", render=lambda **kw: "<p>pipeline widget</p>"
            ),
            ListColumn(
                name="score",
                label="Score",
                value=lambda crm, contact_ids: {i: f"<b>{i}</b>" for i in contact_ids},
            ),
            BulkAction(
                name="add_to_campaign", label="Add to campaign", href="/api/example/campaign"
            ),
        ]


@pytest.fixture
def plugged_app(make_crm):
    from cultiveat_core.web import create_app

    crm = make_crm(plugins=[cultiveat_web.plugin, ExamplePlugin()], cookie_secure=False)
    return crm, create_app(crm, run_jobs=False)


def test_plugin_contributions_render_in_their_slots_and_order(plugged_app):
    crm, app = plugged_app
    contact = add(crm, "Grace", "Hopper", stage="Hot Lead")
    with TestClient(app) as client:
        log_in(client, crm, make_user(crm, "sales"))
        detail = client.get(f"/contacts/{contact.id}").text
        tabs = re.findall(r'data-tab="([^"]+)"', detail)
        assert tabs == ["campaign", "activity", "notes", "ai"]
        assert (
            "campaign tab" in detail
            and "AI is unavailable right now" in detail
            and "HOT LEAD ALERT" in detail
        )
        listing = client.get("/contacts").text
        assert f"<b>{contact.id}</b>" in listing and 'formaction="/api/example/campaign"' in listing
        assert "pipeline widget" in client.get("/").text


def test_tabs_of_a_missing_plugin_are_simply_absent(browser_for, crm):
    contact = add(crm, "Grace", "Hopper")
    detail = browser_for("sales").get(f"/contacts/{contact.id}").text
    assert re.findall(r'data-tab="([^"]+)"', detail) == ["activity", "notes"]


def test_detail_page_offers_the_edit_form_as_a_dialog_and_a_link(browser_for, crm):
    contact = add(crm, "Edsger", "Dijkstra", company="TU Eindhoven", stage="Qualified")
    client = browser_for("marketing")
    page = client.get(f"/contacts/{contact.id}").text
    # without the script: a link to the edit page; with it, the same form in a <dialog>
    assert f'href="/contacts/{contact.id}/edit" data-open-dialog="edit-dialog"' in page
    dialog = re.search(r'<dialog id="edit-dialog".*?</dialog>', page, re.S).group(0)
    assert f'action="/contacts/{contact.id}/edit"' in dialog
    assert 'id="edit-first_name"' in dialog and 'value="Edsger"' in dialog
    assert 'value="TU Eindhoven"' in dialog and "<option selected>Qualified</option>" in dialog
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "duplicate element ids on the detail page"
    form = dict(re.findall(r'name="([^"]+)" type="[^"]*" value="([^"]*)"', dialog))
    form.update(
        _csrf=csrf_of(page),
        version=str(contact.version),
        stage="Hot Lead",
        type="",
        owner="",
        notes="",
        action="save",
        position="Professor",
    )
    saved = client.post(f"/contacts/{contact.id}/edit", data=form, follow_redirects=False)
    assert saved.status_code == 303, saved.text[:500]
    updated = crm.contacts.get(SYSTEM, contact.id)
    assert updated.stage == "Hot Lead" and updated.position == "Professor"
    assert updated.company == "TU Eindhoven"
    # a role that may not edit sees neither the link nor the dialog
    viewer = browser_for("executive").get(f"/contacts/{contact.id}").text
    assert "edit-dialog" not in viewer and f"/contacts/{contact.id}/edit" not in viewer


def tab_panel(html: str, name: str) -> str:
    start = html.index(f'id="panel-{name}"')
    end = html.find('role="tabpanel"', start)
    return html[start : end if end > 0 else len(html)]


def test_activity_history_is_grouped_by_day_25_a_page_with_a_more_link(browser_for, crm):
    contact = add(crm, "Barbara", "Liskov")
    now = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    crm.activities.log_many(
        SYSTEM,
        [
            {
                "contact_id": contact.id,
                "type": "note",
                "occurred_at": now - timedelta(days=i // 10, minutes=i),
                "data": {"text": f"note {i:02d}", "note_type": "General"},
            }
            for i in range(30)
        ],
    )
    client = browser_for("sales")
    page = client.get(f"/contacts/{contact.id}?tab=activity").text
    panel = tab_panel(page, "activity")
    days = re.findall(r'data-day="([0-9-]+)"', panel)
    assert days == [(now - timedelta(days=d)).date().isoformat() for d in range(3)]
    assert panel.count('class="timeline-item') == 25
    assert "Today" in panel and "Yesterday" in panel
    more = re.search(r'<a class="button" data-more href="([^"]+)"', panel)
    assert more, "no 'Older activity' link"
    older = client.get(f"/contacts/{contact.id}" + more.group(1).replace("&amp;", "&")).text
    rest = tab_panel(older, "activity")
    assert rest.count('class="timeline-item') == 5 and "data-more href" not in rest
    assert re.findall(r'data-day="([0-9-]+)"', rest) == [(now - timedelta(days=2)).date().isoformat()]
    assert "Newest activity" in rest
