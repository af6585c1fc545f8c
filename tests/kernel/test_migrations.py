"""Migrations on SQLite and PostgreSQL: from empty, a plugin's own Alembic branch beside the
core's, refusing to serve an unmigrated database, and a database a removed plugin migrated."""

from __future__ import annotations

import importlib

import pytest
import sqlalchemy as sa
from kernel_plugins import add_with_table, person
from litestar.testing import TestClient

from cultiveat_core import Actor
from cultiveat_core.db import migrate
from cultiveat_core.errors import DatabaseNotMigrated
from cultiveat_core.web import create_app

SYSTEM = Actor.system("tests")


@pytest.fixture
def notes_plugin(plugin_dir):
    return importlib.import_module(add_with_table(plugin_dir, "km"))


def startup_error(app):
    """The error the app's start-up raised (unwrapped from the ASGI lifespan's group)."""
    try:
        with TestClient(app):
            pass
    except BaseException as exc:
        while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
            exc = exc.exceptions[0]
        return exc
    return None


def table_names(crm):
    return set(sa.inspect(crm.engine).get_table_names())


def test_upgrade_from_empty_applies_core_and_the_plugin_branch(make_crm, notes_plugin):
    crm = make_crm(plugins=[notes_plugin], migrate=False)
    assert table_names(crm) == set()
    assert crm.migration_problem() == "no migrations applied"

    crm.upgrade_database()
    assert crm.migration_problem() is None
    assert {"core_contacts", "core_activities", "core_jobs", "km_notes"} <= table_names(crm)
    heads = migrate.current_heads(crm.engine)
    assert "km_0001" in heads
    assert heads == migrate.expected_heads(crm.migration_locations)
    crm.upgrade_database()  # a second run is a no-op
    assert migrate.current_heads(crm.engine) == heads


def test_the_app_refuses_to_serve_an_unmigrated_database(make_crm):
    crm = make_crm(migrate=False)
    refused = startup_error(create_app(crm))
    assert isinstance(refused, DatabaseNotMigrated)
    assert str(refused) == (
        "the database is not migrated (no migrations applied); run `cultiveat db upgrade` first"
    )
    with TestClient(create_app(crm, check_database=False, run_jobs=False)) as client:
        health = client.get("/health")
    assert health.status_code == 503
    assert health.json()["migrations"] == "no migrations applied"
    assert health.json()["status"] == "unavailable"


def test_a_newly_installed_plugin_needs_its_branch_applied(make_crm, notes_plugin):
    core_only = make_crm()
    core_only.contacts.create(SYSTEM, person("kept@example.com"))
    url = core_only.settings.database_url
    core_only.close()

    crm = make_crm(plugins=[notes_plugin], database_url=url)
    assert crm.migration_problem() == "revisions not applied: km_0001"
    refused = startup_error(create_app(crm))
    assert isinstance(refused, DatabaseNotMigrated)
    assert str(refused) == ("the database is not migrated (revisions not applied: km_0001); "
                            "run `cultiveat db upgrade` first")
    crm.upgrade_database()
    assert crm.migration_problem() is None
    assert "km_notes" in table_names(crm)
    assert [c.email for c in crm.contacts.list(SYSTEM)] == ["kept@example.com"]


def test_revisions_of_a_removed_plugin_do_not_block_the_others(make_crm, notes_plugin):
    with_plugin = make_crm(plugins=[notes_plugin])
    assert "km_0001" in migrate.current_heads(with_plugin.engine)
    url = with_plugin.settings.database_url
    with_plugin.close()

    without = make_crm(database_url=url)
    assert without.migration_problem() is None
    with TestClient(create_app(without, run_jobs=False)) as client:
        assert client.get("/health").json()["migrations"] == "current"


def test_upgrade_runs_with_revisions_of_a_removed_plugin_and_keeps_them(make_crm, notes_plugin):
    with_plugin = make_crm(plugins=[notes_plugin])
    url = with_plugin.settings.database_url
    with_plugin.close()

    without = make_crm(database_url=url)
    without.upgrade_database()  # used to fail: "Can't locate revision identified by 'km_0001'"
    assert "km_0001" in migrate.current_heads(without.engine)
    assert without.migration_problem() is None
    without.close()

    again = make_crm(plugins=[notes_plugin], database_url=url)
    assert again.migration_problem() is None
    again.upgrade_database()
    assert "km_notes" in table_names(again)


def test_phone_blind_index_backfill_uses_the_crms_keys(make_crm):
    crm = make_crm(migrate=False, secret_key="backfill-" + "k" * 40)
    migrate.upgrade(crm.engine, crm.migration_locations, target="core_0200_identity")
    now = "2026-01-01 00:00:00"
    with crm.engine.begin() as conn:
        for i, phone in enumerate(["+12025550100", "+44 20 7946 0018", None], start=1):
            conn.execute(
                sa.text(
                    "INSERT INTO core_contacts (email, email_key, first_name, last_name, phone, social,"
                    " custom, version, created_at, updated_at) VALUES (:e, :e, 'A', 'B', :p, '{}', '{}', 1,"
                    " :now, :now)"
                ),
                {"e": f"p{i}@example.com", "p": phone, "now": now},
            )
    crm.upgrade_database()
    assert crm.migration_problem() is None
    with crm.engine.connect() as conn:
        keys = dict(conn.execute(sa.text("SELECT email, phone_key FROM core_contacts")).all())
    assert keys == {
        "p1@example.com": crm.cipher.blind_index("+12025550100"),
        "p2@example.com": crm.cipher.blind_index("+44 20 7946 0018"),
        "p3@example.com": None,
    }
    assert keys["p1@example.com"] != keys["p2@example.com"]


def test_activity_contact_ids_get_a_larger_statistics_sample_on_postgresql(make_crm):
    crm = make_crm()
    if crm.engine.dialect.name != "postgresql":
        pytest.skip("a per-column statistics target exists on PostgreSQL only")
    with crm.engine.connect() as conn:
        target = conn.execute(
            sa.text(
                "SELECT attstattarget FROM pg_attribute "
                "WHERE attrelid = 'core_activities'::regclass AND attname = 'contact_id'"
            )
        ).scalar()
    assert target == 1000
