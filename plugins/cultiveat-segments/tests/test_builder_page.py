"""The visual segment builder over HTTP, without a browser: the no-JavaScript form path (add
condition, add group, AND/OR/NOT, preview, errors next to the failing row, save, edit, the
JSON editor), the live-preview endpoint the script calls, sessions with CSRF, and roles."""

from __future__ import annotations

import re
import uuid

import pytest
from cultiveat_segments import builder_form as bf
from cultiveat_segments.plugin import service
from litestar.testing import TestClient

from cultiveat_core.services.sessions import SESSION_COOKIE

from .data import SYSTEM
from .test_segments_api import _contacts

ROW = re.compile(r'name="rows" value="(r\d+)"')


def form_of(root: bf.Row, **extra: str) -> dict[str, list[str] | str]:
    """The fields the page renders for ``root`` (what a browser would submit)."""
    data: dict[str, list[str] | str] = {"rows": []}

    def add(row: bf.Row, parent: str) -> None:
        data["rows"].append(row.id)  # type: ignore[union-attr]
        data[f"{row.id}.parent"] = parent
        data[f"{row.id}.kind"] = row.kind
        if row.kind == "group":
            data[f"{row.id}.combine"] = row.combine
            if row.negate:
                data[f"{row.id}.negate"] = "1"
            for child in row.children:
                add(child, row.id)
        else:
            data.update({f"{row.id}.{k}": getattr(row, k) for k in ("subject", "key", "op", "value", "within")})

    add(root, "")
    data.update(extra)
    return data


def tree(*children: bf.Row, combine: str = "all", negate: bool = False) -> bf.Row:
    root = bf.Row("r0", kind="group", combine=combine, negate=negate, children=list(children))
    bf.renumber(root)
    return root


def cond(subject: str, op: str = "", value: str = "", within: str = "", key: str = "") -> bf.Row:
    return bf.Row("x", subject=subject, op=op, value=value, within=within, key=key)


def emails_in(html: str) -> set[str]:
    return set(re.findall(r"<td>([^<@]+@[^<]+)</td>", html))


def test_page_is_a_plain_form_with_rows_advanced_json_and_the_script(client):
    page = client.get("/segments/builder")
    assert page.status_code == 200, page.text
    html = page.text
    assert "Segment builder" in html and '<form id="builder" method="post"' in html
    assert ROW.findall(html) == ["r0", "r1"]  # the root group and one starting condition
    assert 'name="r1.subject"' in html and 'value="field:company_size" selected' in html
    assert 'value="add:r0"' in html and 'value="group:r0"' in html  # + Condition, + Group
    assert 'name="r0.combine"' in html and 'name="r0.negate"' in html  # AND/OR, NOT
    assert "<details" in html and 'name="definition"' in html  # the advanced JSON editor
    assert '<script src="/segments/builder.js"' in html and "<script>" not in html
    assert "script-src 'self'" in page.headers["content-security-policy"]
    script = client.get("/segments/builder.js")
    assert script.status_code == 200 and "/segments/builder/preview" in script.text


def test_add_condition_add_group_and_remove_without_javascript(client):
    root = tree(cond("field:company_size", ">", "1000"))
    added = client.post("/segments/builder", data=form_of(root, action="add:r0"))
    assert added.status_code == 200, added.text
    assert ROW.findall(added.text) == ["r0", "r1", "r2"]
    grouped = client.post("/segments/builder", data=form_of(root, action="group:r0"))
    # a new group r2 inside r0, with its own first condition r3
    assert ROW.findall(grouped.text) == ["r0", "r1", "r2", "r3"]
    assert 'name="r2.parent" value="r0"' in grouped.text and 'name="r3.parent" value="r2"' in grouped.text
    assert 'value="remove:r2"' in grouped.text and 'value="remove:r0"' not in grouped.text
    two = tree(cond("field:company_size", ">", "1000"), cond("field:position", "is_c_level"))
    removed = client.post("/segments/builder", data=form_of(two, action="remove:r1"))
    assert ROW.findall(removed.text) == ["r0", "r1"]
    assert 'value="field:position" selected' in removed.text


def test_preview_of_nested_and_or_not_rows_counts_and_lists_members(client, crm):
    ids = _contacts(crm)
    # company_size > 1000 AND NOT (position is C-level AND tag Enterprise)
    inner = bf.Row(
        "g", kind="group", negate=True,
        children=[cond("field:position", "is_c_level"), cond("tags", "any", "Enterprise")],
    )
    root = tree(cond("field:company_size", ">", "1000"), inner)
    response = client.post("/segments/builder", data=form_of(root, action="preview"))
    assert response.status_code == 200, response.text
    assert "<strong>2</strong> contacts match" in response.text
    assert emails_in(response.text) == {"cto@big.com", "dev@big.com"}
    # the same rows as JSON, shown in the advanced editor
    built = bf.to_definition(bf.parse_form(form_of(root)), vocab(client))
    assert built.definition == {
        "all": [
            {"field": "company_size", "op": ">", "value": 1000},
            {"not": {"all": [{"field": "position", "op": "is_c_level"}, {"tags": ["Enterprise"], "match": "any"}]}},
        ]
    }
    assert service(crm).preview(SYSTEM, built.definition)["count"] == 2
    # OR at the root
    either = tree(cond("field:company_size", "<", "100"), cond("tags", "any", "Enterprise"), combine="any")
    response = client.post("/segments/builder", data=form_of(either, action="preview"))
    assert emails_in(response.text) == {"ceo@small.com", "ceo@big.com"}
    assert ids  # the population exists


def vocab(client):
    operators = client.get("/api/segments/operators").json()
    return bf.Vocab(
        field_types={f["name"]: f["type"] for f in operators["fields"]},
        custom_types={},
        arity={o["name"]: o["value"] for ops in operators["operators"].values() for o in ops},
    )


def test_validation_errors_are_shown_next_to_the_failing_row(client):
    root = tree(
        cond("field:company_size", ">", "1000"),
        bf.Row("g", kind="group", combine="any", children=[
            cond("activity:email_clicked", "at_least", "two", within="14"),
            cond("purchase:total_spent", ">=", "-5"),
        ]),
    )
    response = client.post("/segments/builder", data=form_of(root, action="preview"))
    assert response.status_code == 422
    html = response.text
    # rows: r0 root, r1 size, r2 group, r3 activity, r4 purchase
    assert re.search(r'id="err-r3" role="alert">[^<]*min_count|id="err-r3" role="alert">[^<]*whole number', html)
    assert re.search(r'id="err-r4" role="alert">[^<]*number &gt;= 0', html)
    assert 'id="err-r1" role="alert" hidden' in html
    assert 'class="cond" data-row="r3" aria-invalid="true"' in html
    assert 'class="count"' not in html


def test_the_live_preview_endpoint_answers_json_with_row_errors(client, crm):
    _contacts(crm)
    good = client.post("/segments/builder/preview", data=form_of(tree(cond("field:position", "is_c_level"))))
    assert good.status_code == 200, good.text
    body = good.json()
    assert body["count"] == 3 and body["errors"] == []
    assert {m["email"] for m in body["members"]} == {"ceo@big.com", "cto@big.com", "ceo@small.com"}
    assert body["definition"] == {"all": [{"field": "position", "op": "is_c_level"}]}
    bad = client.post("/segments/builder/preview", data=form_of(tree(cond("field:company_size", "contains", "x"))))
    assert bad.status_code == 422
    (error,) = bad.json()["errors"]
    assert error["row"] == "r1" and "not an operator for a number field" in error["message"]
    fragment = client.post(
        "/segments/builder", data=form_of(tree(), action="add:r0"), headers={"X-Builder-Fragment": "rows"}
    )
    assert fragment.status_code == 200 and fragment.text.startswith("<fieldset") and "<html" not in fragment.text


def test_save_creates_the_segment_and_reopens_it_as_rows(client, crm):
    _contacts(crm)
    root = tree(
        cond("field:company_size", ">", "1000"),
        cond("activity:email_clicked", "at_least", "2", within="14"),
        bf.Row("g", kind="group", negate=True, children=[cond("tags", "none", "Enterprise, CEO")]),
    )
    saved = client.post(
        "/segments/builder",
        data=form_of(root, action="save", name="Builder made", description="from the form"),
        follow_redirects=False,
    )
    assert saved.status_code in (302, 303), saved.text
    segment = service(crm).by_name(SYSTEM, "Builder made")
    assert saved.headers["location"] == f"/segments/builder?segment={segment['id']}&saved=1"
    assert segment["definition"] == {
        "all": [
            {"field": "company_size", "op": ">", "value": 1000},
            {"activity": "email_clicked", "min_count": 2, "within_days": 14},
            {"not": {"tags": ["Enterprise", "CEO"], "match": "none"}},
        ]
    }
    page = client.get(saved.headers["location"])
    assert "Saved Builder made" in page.text
    assert ROW.findall(page.text) == ["r0", "r1", "r2", "r3", "r4"]
    assert 'value="activity:email_clicked" selected' in page.text and 'name="r2.within" value="14"' in page.text
    assert 'name="r3.negate" value="1" checked' in page.text
    # editing it: change the size, save again (an update, not a second segment)
    edited = bf.from_definition(segment["definition"])
    edited.children[0].value = "100"
    again = client.post(
        "/segments/builder",
        data=form_of(edited, action="save", name="Builder made", segment_id=str(segment["id"])),
        follow_redirects=False,
    )
    assert again.status_code in (302, 303), again.text
    assert service(crm).get(SYSTEM, segment["id"])["definition"]["all"][0]["value"] == 100
    # a duplicate name is shown next to the name field
    clash = client.post("/segments/builder", data=form_of(root, action="save", name="Builder made"))
    assert clash.status_code == 422 and 'id="name-error"' in clash.text and "exists" in clash.text


def test_advanced_json_editor_loads_into_rows_and_reports_bad_json(client):
    text = '{"any": [{"field": "stage", "op": "in", "value": ["Customer", "Hot Lead"]}, {"not": {"segment": 1}}]}'
    applied = client.post("/segments/builder", data=form_of(tree(), action="json", definition=text))
    assert applied.status_code == 200, applied.text
    assert ROW.findall(applied.text) == ["r0", "r1", "r2", "r3"]
    assert 'name="r1.value" value="Customer, Hot Lead"' in applied.text
    assert "contacts match" in applied.text
    broken = client.post("/segments/builder", data=form_of(tree(), action="json", definition="{nope"))
    assert broken.status_code == 422 and "not valid JSON" in broken.text and "<details id=\"advanced\" open" in broken.text
    wrong = client.post(
        "/segments/builder", data=form_of(tree(), action="json", definition='{"all": [{"field": "nope"}]}')
    )
    assert wrong.status_code == 422 and "definition.all[0].field: unknown field" in wrong.text


@pytest.mark.parametrize(
    "definition",
    [
        {"all": []},
        {"any": [{"field": "stage", "op": "=", "value": "Customer"}, {"tag": "Enterprise"}]},
        {"not": {"activity": ["email_clicked", "email_opened"], "min_count": 0, "max_count": 0}},
        {"all": [{"activity": "page_visit", "min_count": 2, "max_count": 5, "within_days": 30},
                 {"purchase": "total_spent", "op": ">=", "value": 1000, "within_days": 365},
                 {"not": {"any": [{"custom": "plan", "op": "=", "value": "pro"},
                                  {"preference": "interests", "op": "includes", "value": "crm"}]}},
                 {"field": "company_size", "op": "between", "value": [10, 200]},
                 {"activity": "call", "min_count": 0, "max_count": 3}]},
    ],
)
def test_rows_round_trip_definitions(client, definition):
    root = bf.from_definition(definition)
    back = bf.to_definition(bf.parse_form(form_of(root)), vocab(client)).definition
    normal = {"tag": "tags"}
    expected = _normalise(definition, normal)
    assert _normalise(back, normal) == expected


def _normalise(node, names):
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "tag":
                out["tags"], out["match"] = [v], "any"
            else:
                out[k] = _normalise(v, names)
        if "activity" in out:
            out.setdefault("min_count", 1)
        return out
    if isinstance(node, list):
        return [_normalise(v, names) for v in node]
    return node


def _session_client(crm, app_factory, role):
    user = crm.users.create(SYSTEM, f"{role}-{uuid.uuid4().hex[:6]}@example.com", role, name=role)
    session = crm.sessions.start(user, mfa_passed=True)
    client = TestClient(app_factory(), raise_server_exceptions=False)
    client.__enter__()
    client.cookies.set(SESSION_COOKIE, session.id)
    return client


def test_signed_in_users_need_the_session_csrf_token_and_roles_decide_saving(crm):
    from cultiveat_core.web import create_app

    marketing = _session_client(crm, lambda: create_app(crm, run_jobs=False), "marketing")
    try:
        page = marketing.get("/segments/builder")
        assert page.status_code == 200 and "Save segment" in page.text
        token = re.search(r'name="_csrf" value="([^"]+)"', page.text).group(1)
        data = form_of(tree(cond("field:company_size", ">", "1")), action="save", name="Via session")
        assert marketing.post("/segments/builder", data=data).status_code == 403  # no token
        assert service(crm).list(SYSTEM) and "Via session" not in {s["name"] for s in service(crm).list(SYSTEM)}
        ok = marketing.post("/segments/builder", data={**data, "_csrf": token}, follow_redirects=False)
        assert ok.status_code in (302, 303), ok.text
        live = marketing.post(
            "/segments/builder/preview", data=form_of(tree()), headers={"X-CSRF-Token": token}
        )
        assert live.status_code == 200 and live.json()["count"] == 0
    finally:
        marketing.__exit__(None, None, None)
    sales = _session_client(crm, lambda: create_app(crm, run_jobs=False), "sales")
    try:
        page = sales.get("/segments/builder")
        assert page.status_code == 200 and "Save segment" not in page.text and "needs segments.manage" in page.text
        token = re.search(r'name="_csrf" value="([^"]+)"', page.text).group(1)
        refused = sales.post(
            "/segments/builder",
            data=form_of(tree(), action="save", name="Sales try", _csrf=token),
        )
        assert refused.status_code == 403
        assert "Sales try" not in {s["name"] for s in service(crm).list(SYSTEM)}
    finally:
        sales.__exit__(None, None, None)
    anonymous = TestClient(create_app(crm, run_jobs=False))
    with anonymous:
        assert anonymous.get("/segments/builder", follow_redirects=False).status_code in (302, 303)
