"""Templates: seed templates, merge fields, Jinja2 in the sandbox, fallbacks, preview."""

import pytest
from cultiveat_campaigns import rendering
from cultiveat_campaigns.rendering import TemplateSecurityError

from .conftest import make_contacts

TEMPLATE = {
    "name": "Spring offer",
    "subject": "Hi {first_name} at {company_name}",
    "body_html": "<p>Dear {first_name}, as {position}{% if position == 'CEO' %} (boss){% endif %}</p>"
    "{% for n in [1, 2] %}<i>{{ n }}</i>{% endfor %}",
    "body_text": "Dear {first_name}",
    "category": "Marketing",
}


def test_the_seed_templates_exist(client):
    names = {t["name"]: t for t in client.get("/api/campaigns/templates").json()}
    assert {"Welcome Email", "Follow-up Email", "Product Demo"} <= set(names)
    assert names["Welcome Email"]["category"] == "Onboarding"
    assert {"first_name", "company_name", "position"} <= set(names["Welcome Email"]["merge_fields"])


def test_create_and_preview_renders_merge_fields_and_jinja(crm, client):
    [ann] = make_contacts(crm, 1, first_name="Ann", position="CEO", company="Acme & Sons")
    created = client.post("/api/campaigns/templates", json=TEMPLATE)
    assert created.status_code == 201, created.text
    preview = client.post(
        f"/api/campaigns/templates/{created.json()['id']}/preview", json={"contact_id": ann.id}
    )
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["subject"] == "Hi Ann at Acme & Sons"
    assert body["html"] == "<p>Dear Ann, as CEO (boss)</p><i>1</i><i>2</i>"
    assert body["text"] == "Dear Ann"
    assert body["empty_fields"] == []


def test_html_is_autoescaped(crm, client):
    [bad] = make_contacts(crm, 1, first_name="<script>alert(1)</script>")
    tid = client.post("/api/campaigns/templates", json=TEMPLATE).json()["id"]
    html = client.post(
        f"/api/campaigns/templates/{tid}/preview", json={"contact_id": bad.id}
    ).json()["html"]
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_fallbacks_fill_empty_values_and_the_report_names_them(crm, client):
    with_pos, without = (
        make_contacts(crm, 1, prefix="a")[0],
        make_contacts(crm, 1, prefix="b", position="")[0],
    )
    tid = client.post(
        "/api/campaigns/templates", json={**TEMPLATE, "fallbacks": {"position": "a leader"}}
    ).json()["id"]
    preview = client.post(
        f"/api/campaigns/templates/{tid}/preview", json={"contact_id": without.id}
    ).json()
    assert "as a leader" in preview["html"]
    assert preview["empty_fields"] == ["position"]
    report = client.post(
        f"/api/campaigns/templates/{tid}/empty-fields",
        json={"audience": {"contact_ids": [with_pos.id, without.id]}},
    ).json()
    assert report["recipients"] == 2
    assert report["fields"]["position"] == {
        "empty": 1,
        "contact_ids": [without.id],
        "fallback": "a leader",
    }
    assert report["fields"]["first_name"]["empty"] == 0


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ first_name.__class__ }}",
        "{% set x = [] %}{{ x.append(1) }}",
        "{{ {}.update(a=1) }}",
    ],
)
def test_sandbox_escapes_raise_a_security_error(crm, client, source):
    with pytest.raises(TemplateSecurityError):
        rendering.render(
            {"subject": "s", "body_html": source, "body_text": ""}, {"first_name": "Ann"}
        )
    response = client.post(
        "/api/campaigns/templates", json={**TEMPLATE, "name": "evil", "body_html": source}
    )
    assert response.status_code == 422
    assert "sandbox" in response.text


def test_template_input_errors_are_clear(client):
    assert client.post("/api/campaigns/templates", json={"name": "x"}).status_code == 422
    broken = client.post(
        "/api/campaigns/templates", json={**TEMPLATE, "name": "b", "body_html": "{% if %}"}
    )
    assert broken.status_code == 422 and "syntax" in broken.text
    two_lines = client.post(
        "/api/campaigns/templates", json={**TEMPLATE, "name": "c", "subject": "a\r\nBcc: x"}
    )
    assert two_lines.status_code == 422 and "line breaks" in two_lines.text
    client.post("/api/campaigns/templates", json=TEMPLATE)
    assert client.post("/api/campaigns/templates", json=TEMPLATE).status_code == 409


def test_seed_merge_syntax_and_jinja_syntax_are_the_same():
    assert (
        rendering.to_jinja("{first_name} {{ first_name }} {unknown}")
        == "{{ first_name }} {{ first_name }} {unknown}"
    )


def test_templates_need_the_manage_permission(client_for):
    sales = client_for("sales")
    assert sales.post("/api/campaigns/templates", json=TEMPLATE).status_code == 403
    assert sales.get("/api/campaigns/templates").status_code == 200
