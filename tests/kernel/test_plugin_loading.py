"""Plugin loading through real entry points: good, failing at import, raising in a hook,
blocked, strict, duplicates; ``/health`` and ``GET /api/plugins`` report what happened."""

from __future__ import annotations

import importlib
import logging
import sys

import pytest
from kernel_plugins import (
    FAILS_AT_IMPORT,
    GOOD,
    RAISES_IN_HOOK,
    SAME_ACTIVITY_TYPE,
    TYPO_HOOK,
    person,
    render,
)
from litestar.testing import TestClient

from cultiveat_core import Actor, create_crm
from cultiveat_core.errors import DuplicateRegistration, PluginError
from cultiveat_core.settings import Settings
from cultiveat_core.testing import token_for
from cultiveat_core.web import create_app


def records(crm):
    return {r["name"]: r for r in crm.plugins_report()}


def admin_client(crm):
    client = TestClient(create_app(crm, run_jobs=False), raise_server_exceptions=False)
    client.__enter__()
    client.headers["Authorization"] = f"Bearer {token_for(crm, 'admin')}"
    return client


def test_good_plugin_from_an_entry_point_is_loaded_and_used(make_crm, plugin_dir):
    module = plugin_dir.add("kgood", render(GOOD, "kgood"))
    crm = make_crm(load_entrypoints=True, plugins_block=plugin_dir.block())

    record = records(crm)["kgood"]
    assert record["status"] == "loaded"
    assert record["error"] is None
    assert record["distribution"] == plugin_dir.distribution("kgood")
    assert record["version"] == "1.0"
    assert record["module"] == module
    assert record["hooks"] == ["contact_created", "register_activity_types", "register_commands",
                               "register_permissions", "register_routes"]
    assert crm.registry.owner("activity_types", "kgood_waved") == "kgood"
    assert crm.registry.owner("permissions", "kgood.read") == "kgood"
    assert crm.registry.owner("commands", "kgood-hello") == "kgood"
    crm.pm.check_pending()

    client = admin_client(crm)
    try:
        assert client.get("/api/kgood/ping").json() == {"pong": "kgood"}
        listed = {r["name"]: r for r in client.get("/api/plugins").json()}
        assert listed["kgood"]["status"] == "loaded"
        created = client.post("/api/contacts", json=person("ep@example.com"))
        assert created.status_code == 201, created.text
    finally:
        client.__exit__(None, None, None)
    assert sys.modules[module].EVENTS == ["ep@example.com"]


def test_a_plugin_failing_at_import_is_reported_and_the_app_still_serves(make_crm, plugin_dir):
    plugin_dir.add("kbroken", render(FAILS_AT_IMPORT, "kbroken"))
    plugin_dir.add("kgood", render(GOOD, "kgood"))
    crm = make_crm(load_entrypoints=True, plugins_block=plugin_dir.block())

    broken = records(crm)["kbroken"]
    assert broken["status"] == "failed"
    assert broken["error"] == "RuntimeError: kbroken cannot start: missing licence file"
    assert broken["distribution"] == plugin_dir.distribution("kbroken")
    assert records(crm)["kgood"]["status"] == "loaded"

    client = admin_client(crm)
    try:
        health = client.get("/health")
        assert health.status_code == 200
        body = health.json()
        assert body["status"] == "ok"
        assert body["plugins_failed"] == 1
        assert body["failed_plugins"] == [
            {"name": "kbroken", "error": "RuntimeError: kbroken cannot start: missing licence file"}
        ]
        listed = {r["name"]: r for r in client.get("/api/plugins").json()}
        assert listed["kbroken"]["status"] == "failed"
        assert "missing licence file" in listed["kbroken"]["error"]
        assert client.get("/api/kgood/ping").status_code == 200
    finally:
        client.__exit__(None, None, None)


def test_api_plugins_is_for_admins_only(make_crm, plugin_dir):
    crm = make_crm()
    with TestClient(create_app(crm, run_jobs=False)) as client:
        assert client.get("/api/plugins").status_code == 401
        client.headers["Authorization"] = f"Bearer {token_for(crm, 'sales')}"
        denied = client.get("/api/plugins")
        assert denied.status_code == 403
        assert denied.headers["content-type"].startswith("application/problem+json")


def test_a_plugin_raising_in_a_registration_hook_is_dropped_whole(make_crm, plugin_dir, caplog):
    module = plugin_dir.add("kraiser", render(RAISES_IN_HOOK, "kraiser"))
    with caplog.at_level(logging.ERROR, logger="cultiveat.plugins"):
        crm = make_crm(load_entrypoints=True, plugins_block=plugin_dir.block())

    record = records(crm)["kraiser"]
    assert record["status"] == "failed"
    assert record["error"] == "ValueError: kraiser route table is broken"
    assert "plugin kraiser failed to load: ValueError: kraiser route table is broken" in caplog.text
    # its other contributions are gone too: no activity type, no event listener
    assert "kraiser_thing" not in crm.registry.activity_types
    assert crm.pm.get_plugin("kraiser") is None
    crm.contacts.create(Actor.system("test"), person("dropped@example.com"))
    assert sys.modules[module].CALLS == []


def test_blocked_plugins_are_never_imported(make_crm, plugin_dir, cultiveat_backend):
    module = plugin_dir.add("kblocked", render(FAILS_AT_IMPORT, "kblocked"))
    crm = make_crm(load_entrypoints=True, environ={
        "CULTIVEAT_PLUGINS_BLOCK": ",".join(plugin_dir.block("kblocked")),
        "CULTIVEAT_PLUGINS_STRICT": "1",  # a blocked plugin is not a failure, even in strict mode
    })
    record = records(crm)["kblocked"]
    assert record["status"] == "blocked"
    assert record["error"] is None
    assert module.split(".")[0] not in sys.modules
    assert crm.failed_plugins == []


def test_an_explicit_plugin_can_be_blocked_by_its_entry_point_name(plugin_dir):
    module = plugin_dir.add("kgood", render(GOOD, "kgood"))
    plugin = importlib.import_module(module)
    crm = create_crm(Settings(database_url="sqlite://", plugins_block=("kgood",)),
                     plugins=[plugin], load_entrypoints=False)
    assert records(crm)[module]["status"] == "blocked"
    assert not crm.pm.is_registered(plugin)


def test_strict_mode_refuses_to_start_naming_the_plugin(plugin_dir):
    plugin_dir.add("kbroken", render(FAILS_AT_IMPORT, "kbroken"))
    settings = Settings(database_url="sqlite://", plugins_strict=True,
                        plugins_block=plugin_dir.block())
    with pytest.raises(PluginError) as failed:
        create_crm(settings)
    assert failed.value.plugin == "kbroken"
    assert str(failed.value) == (
        "plugin 'kbroken' failed: RuntimeError: kbroken cannot start: missing licence file"
    )


def test_strict_mode_also_refuses_a_plugin_raising_in_a_hook(plugin_dir):
    plugin_dir.add("kraiser", render(RAISES_IN_HOOK, "kraiser"))
    settings = Settings(database_url="sqlite://", plugins_strict=True,
                        plugins_block=plugin_dir.block())
    with pytest.raises(PluginError, match="'kraiser' failed: ValueError: kraiser route table"):
        create_crm(settings)


def test_duplicate_registrations_name_both_plugins(plugin_dir):
    plugin_dir.add("kfirst", render(SAME_ACTIVITY_TYPE, "kfirst"))
    plugin_dir.add("ksecond", render(SAME_ACTIVITY_TYPE, "ksecond"))
    with pytest.raises(DuplicateRegistration) as dup:
        create_crm(Settings(database_url="sqlite://", plugins_block=plugin_dir.block()))
    assert dup.value.plugins == ("kfirst", "ksecond")
    assert str(dup.value) == (
        "activity type 'shared_type' is registered by both plugin 'kfirst' and plugin 'ksecond'; "
        "block one of them with CULTIVEAT_PLUGINS_BLOCK or rename it"
    )
    # blocking one of them, as the message says, resolves it
    crm = create_crm(Settings(database_url="sqlite://",
                              plugins_block=plugin_dir.block("ksecond")))
    assert crm.registry.owner("activity_types", "shared_type") == "kfirst"


def test_a_plugin_duplicating_a_core_name_is_named(plugin_dir):
    plugin_dir.add("kcopy", """
        from cultiveat_core import Permission, hookimpl

        @hookimpl
        def register_permissions(crm):
            return [Permission("contacts.read", "mine now")]
    """)
    with pytest.raises(DuplicateRegistration, match=r"plugin 'core\.permissions' and plugin 'kcopy'"):
        create_crm(Settings(database_url="sqlite://", plugins_block=plugin_dir.block()))


def test_an_explicit_plugin_that_is_also_an_entry_point_loads_once(plugin_dir):
    module = plugin_dir.add("kgood", render(GOOD, "kgood"))
    plugin = importlib.import_module(module)
    crm = create_crm(Settings(database_url="sqlite://", plugins_block=plugin_dir.block()),
                     plugins=[plugin])
    found = records(crm)
    assert "kgood" not in found
    assert found[module]["status"] == "loaded"
    assert found[module]["distribution"] == plugin_dir.distribution("kgood")
    assert crm.failed_plugins == []


def test_explicit_plugins_given_by_module_path(plugin_dir):
    good = plugin_dir.add("kgood", render(GOOD, "kgood"))
    broken = plugin_dir.add("kbroken", render(FAILS_AT_IMPORT, "kbroken"))
    crm = create_crm(Settings(database_url="sqlite://"), plugins=[good, broken],
                     load_entrypoints=False)
    found = records(crm)
    assert found[good]["status"] == "loaded"
    assert found[broken]["status"] == "failed"
    assert "missing licence file" in found[broken]["error"]


def test_a_hook_no_spec_declares_is_reported_with_the_plugin(plugin_dir, caplog):
    plugin_dir.add("ktypo", TYPO_HOOK)
    with caplog.at_level(logging.WARNING, logger="cultiveat.plugins"):
        create_crm(Settings(database_url="sqlite://", plugins_block=plugin_dir.block()))
    assert "plugin ktypo implements hook 'contact_creatd', which no loaded plugin declares" \
        in caplog.text


def test_the_core_alone_has_no_pending_hooks_and_reports_its_builtins(crm):
    crm.pm.check_pending()
    found = records(crm)
    assert {name for name, r in found.items() if r["status"] == "builtin"} >= {
        "core.activity_types", "core.permissions", "core.actor", "core.dedupe", "core.tasks",
    }
    assert all(r["distribution"] == "cultiveat-core" for r in found.values())


def test_plugin_declared_registration_hooks_are_collected_and_checked(plugin_dir):
    plugin_dir.add("kchan", """
        from types import SimpleNamespace

        from cultiveat_core import hookimpl, hookspec


        class hookspecs:
            @staticmethod
            @hookspec
            def register_channels(crm):
                "Channels other plugins add."


        @hookimpl
        def register_channels(crm):
            return [SimpleNamespace(name="email")]
    """)
    plugin_dir.add("ksms", """
        from types import SimpleNamespace

        from cultiveat_core import hookimpl


        @hookimpl
        def register_channels(crm):
            return [SimpleNamespace(name="sms")]
    """)
    crm = create_crm(Settings(database_url="sqlite://", plugins_block=plugin_dir.block()))
    assert [c.name for c in crm.registry.extra(crm, "register_channels")] == ["email", "sms"]
    crm.pm.check_pending()

    plugin_dir.add("kemail2", """
        from types import SimpleNamespace

        from cultiveat_core import hookimpl


        @hookimpl
        def register_channels(crm):
            return [SimpleNamespace(name="email")]
    """)
    crm = create_crm(Settings(database_url="sqlite://", plugins_block=plugin_dir.block()))
    with pytest.raises(DuplicateRegistration,
                       match="'email' is registered by both plugin 'kchan' and plugin 'kemail2'"):
        crm.registry.extra(crm, "register_channels")
