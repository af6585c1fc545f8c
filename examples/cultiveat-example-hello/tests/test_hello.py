"""The hello plugin: route, activity type, contact_created listener, CLI command, settings."""

import json

from click.testing import CliRunner

from cultiveat_core import Actor
from cultiveat_core.cli import build_cli


def new_contact(client, email="ann@example.com"):
    response = client.post("/api/contacts", json={"email": email, "first_name": "Ann", "last_name": "Lee"})
    assert response.status_code == 201, response.text
    return response.json()


def test_greeting_route_answers_for_a_contact(client):
    contact = new_contact(client)
    response = client.get(f"/api/hello/contacts/{contact['id']}/greeting")
    assert response.status_code == 200
    assert response.json() == {"contact_id": contact["id"], "greeting": "Hello, Ann Lee!"}


def test_greeting_for_a_missing_contact_is_a_404_problem(client):
    response = client.get("/api/hello/contacts/999999/greeting")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "999999" in response.json()["detail"]


def test_greeting_needs_a_token(app):
    from litestar.testing import TestClient

    with TestClient(app) as anonymous:
        assert anonymous.get("/api/hello/contacts/1/greeting").status_code == 401


def test_greeting_word_comes_from_plugin_settings(make_crm, tmp_path):
    from cultiveat_example_hello.greetings import greet
    from cultiveat_example_hello.plugin import __name__ as plugin_module

    crm = make_crm(plugins=[plugin_module], environ={"CULTIVEAT_HELLO_GREETING": "Bonjour",
                                                    "CULTIVEAT_HELLO_LOG_PATH": str(tmp_path / "x.jsonl")})
    system = Actor.system("test")
    contact = crm.contacts.create(system, {"email": "bo@example.com", "first_name": "Bo", "last_name": "Ek"})
    assert greet(crm, system, contact.id) == "Bonjour, Bo Ek!"


def test_contact_created_over_http_is_appended_to_the_log(client, log_path):
    first = new_contact(client, "ann@example.com")
    second = new_contact(client, "bob@example.com")
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert [(line["contact_id"], line["email"]) for line in lines] == [
        (first["id"], "ann@example.com"),
        (second["id"], "bob@example.com"),
    ]
    assert lines[0]["event"] == "contact_created"
    assert lines[0]["name"] == "Ann Lee"


def test_rejected_contact_writes_nothing(client, log_path):
    response = client.post("/api/contacts", json={"email": "not-an-email", "first_name": "A", "last_name": "B"})
    assert response.status_code == 422
    assert not log_path.exists()


def test_rolled_back_contact_writes_nothing(crm, log_path):
    system = Actor.system("test")
    try:
        with crm.transaction(system) as uow:
            crm.contacts.create(system, {"email": "gone@example.com", "first_name": "G", "last_name": "O"},
                                uow=uow)
            raise RuntimeError("abort the transaction")
    except RuntimeError:
        pass
    assert not log_path.exists()


def test_hello_waved_is_a_usable_activity_type(client, crm):
    contact = new_contact(client)
    logged = client.post(f"/api/contacts/{contact['id']}/activities",
                         json={"type": "hello_waved", "data": {"message": "  hi  "}})
    assert logged.status_code == 201, logged.text
    assert logged.json()["data"] == {"message": "hi"}
    timeline = client.get(f"/api/contacts/{contact['id']}/activities", params={"type": "hello_waved"})
    assert [a["type"] for a in timeline.json()["items"]] == ["hello_waved"]
    assert crm.registry.activity_types["hello_waved"].label == "Waved hello"


def test_hello_waved_rejects_bad_data_saying_what_to_fix(client):
    contact = new_contact(client)
    response = client.post(f"/api/contacts/{contact['id']}/activities",
                           json={"type": "hello_waved", "data": {"message": "x" * 201}})
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "data.message", "message": "must be at most 200 characters (got 201)"}
    ]
    timeline = client.get(f"/api/contacts/{contact['id']}/activities")
    assert timeline.json()["items"] == []


def test_wave_route_logs_the_activity(client):
    contact = new_contact(client)
    response = client.post(f"/api/hello/contacts/{contact['id']}/waves", json={"message": "Nice to meet you"})
    assert response.status_code == 201, response.text
    assert response.json()["type"] == "hello_waved"
    assert response.json()["data"] == {"message": "Nice to meet you"}


def test_wave_needs_the_activities_log_permission(client, client_for):
    contact = new_contact(client)
    executive = client_for("executive")
    response = executive.post(f"/api/hello/contacts/{contact['id']}/waves", json={})
    assert response.status_code == 403
    assert "activities.log" in response.json()["detail"]


def test_cli_greet_prints_the_greeting(crm):
    contact = crm.contacts.create(Actor.system("test"),
                                  {"email": "cy@example.com", "first_name": "Cy", "last_name": "Oh"})
    result = CliRunner().invoke(build_cli(crm), ["hello", "greet", str(contact.id)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "Hello, Cy Oh!"


def test_cli_greet_of_a_missing_contact_fails_with_a_message(crm):
    result = CliRunner().invoke(build_cli(crm), ["hello", "greet", "424242"])
    assert result.exit_code == 1
    assert "contact 424242 does not exist" in result.output


def test_cli_log_lists_created_contacts(crm):
    crm.contacts.create(Actor.system("test"), {"email": "di@example.com", "first_name": "Di", "last_name": "Ng"})
    result = CliRunner().invoke(build_cli(crm), ["hello", "log", "--json"])
    assert result.exit_code == 0, result.output
    assert [entry["email"] for entry in json.loads(result.output)] == ["di@example.com"]


def test_plugin_reports_its_hooks(crm):
    record = {r["name"]: r for r in crm.plugins_report()}["cultiveat_example_hello.plugin"]
    assert record["status"] == "loaded"
    assert set(record["hooks"]) == {
        "register_settings", "register_routes", "register_activity_types", "register_commands",
        "contact_created", "contact_data_for_subject_access", "erase_contact_data",
    }


def test_subject_access_includes_the_log_lines_and_erasure_removes_them(client, log_path):
    ann = new_contact(client, "ann@example.com")
    bob = new_contact(client, "bob@example.com")
    export = client.get(f"/api/contacts/{ann['id']}/subject-access")
    assert export.status_code == 200, export.text
    assert [line["email"] for line in export.json()["plugins"]["cultiveat_example_hello.plugin"]["log_lines"]] == [
        "ann@example.com"
    ]
    erased = client.post(f"/api/contacts/{ann['id']}/erase", json={"confirm": True})
    assert erased.status_code == 200, erased.text
    remaining = [json.loads(line)["contact_id"] for line in log_path.read_text().splitlines()]
    assert remaining == [bob["id"]]
