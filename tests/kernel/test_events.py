"""After-commit events: never for a rollback, batch forms once per transaction, every
listener isolated, a hanging listener bounded by ``event_wait_seconds``, no shared state
between two CRMs."""

from __future__ import annotations

import logging
import threading
import time

import pytest
import sqlalchemy as sa
from kernel_plugins import person
from litestar.testing import TestClient

from cultiveat_core import Actor, hookimpl
from cultiveat_core.db import tables
from cultiveat_core.testing import token_for
from cultiveat_core.web import create_app

SYSTEM = Actor.system("tests")


class Recorder:
    """A plugin object that records every core event it receives."""

    def __init__(self, name: str) -> None:
        self.cultiveat_plugin_name = name
        self.calls: list[tuple[str, object]] = []
        self.committed_when_called: list[bool] = []

    def names(self, event: str) -> list[object]:
        return [payload for name, payload in self.calls if name == event]

    @hookimpl
    def contact_created(self, crm, contact):
        with crm.connect() as conn:  # a separate connection sees the row only after commit
            seen = conn.execute(sa.select(tables.contacts.c.id)
                                .where(tables.contacts.c.id == contact.id)).first()
        self.committed_when_called.append(seen is not None)
        self.calls.append(("contact_created", contact.email))

    @hookimpl
    def contacts_created(self, crm, contacts):
        self.calls.append(("contacts_created", [c.email for c in contacts]))

    @hookimpl
    def contact_updated(self, crm, contact, changes):
        self.calls.append(("contact_updated", dict(changes)))

    @hookimpl
    def contacts_updated(self, crm, changes):
        self.calls.append(("contacts_updated", [c.contact.email for c in changes]))

    @hookimpl
    def activity_logged(self, crm, activity):
        self.calls.append(("activity_logged", activity.type))

    @hookimpl
    def activities_logged(self, crm, activities):
        self.calls.append(("activities_logged", [a.type for a in activities]))


class Raiser:
    cultiveat_plugin_name = "raiser"

    @hookimpl
    def contact_created(self, crm, contact):
        raise RuntimeError("raiser is broken")

    @hookimpl
    def contacts_created(self, crm, contacts):
        raise KeyError("batch broken too")


class Hanger:
    cultiveat_plugin_name = "hanger"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()

    @hookimpl
    def contact_created(self, crm, contact):
        self.started.set()
        self.release.wait(120)


def test_events_fire_after_commit(make_crm):
    recorder = Recorder("recorder")
    crm = make_crm(plugins=[recorder])
    crm.contacts.create(SYSTEM, person("ann@example.com"))
    assert recorder.calls == [("contacts_created", ["ann@example.com"]),
                              ("contact_created", "ann@example.com")]
    assert recorder.committed_when_called == [True]


def test_no_event_and_no_row_for_a_rolled_back_transaction(make_crm):
    recorder = Recorder("recorder")
    crm = make_crm(plugins=[recorder])
    with pytest.raises(RuntimeError, match="changed my mind"), crm.transaction(SYSTEM) as uow:
        crm.contacts.create(SYSTEM, person("gone@example.com"), uow=uow)
        crm.activities.log(SYSTEM, crm.contacts.create(SYSTEM, person("gone2@example.com"),
                                                      uow=uow).id, "email_opened", uow=uow)
        raise RuntimeError("changed my mind")
    assert recorder.calls == []
    with crm.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.contacts)).scalar() == 0


def test_batch_forms_fire_once_per_transaction_and_per_item_events_for_each(make_crm):
    recorder = Recorder("recorder")
    crm = make_crm(plugins=[recorder])
    emails = [f"p{i}@example.com" for i in range(3)]
    with crm.transaction(SYSTEM) as uow:
        made = [crm.contacts.create(SYSTEM, person(e), uow=uow) for e in emails]
        crm.activities.log_many(SYSTEM, [{"contact_id": c.id, "type": "email_opened"}
                                         for c in made], uow=uow)
        assert recorder.calls == []  # nothing before the commit
    assert recorder.names("contacts_created") == [emails]
    assert recorder.names("contact_created") == emails
    assert recorder.names("activities_logged") == [["email_opened"] * 3]
    assert recorder.names("activity_logged") == ["email_opened"] * 3

    recorder.calls.clear()
    crm.contacts.create_many(SYSTEM, [person("bulk1@example.com"), person("bulk2@example.com")])
    assert recorder.names("contacts_created") == [["bulk1@example.com", "bulk2@example.com"]]
    assert recorder.names("contact_created") == ["bulk1@example.com", "bulk2@example.com"]

    recorder.calls.clear()
    crm.contacts.update(SYSTEM, made[0].id, {"first_name": "Renamed"})
    assert recorder.names("contacts_updated") == [[emails[0]]]
    assert recorder.names("contact_updated")[0]["first_name"][1] == "Renamed"


def test_a_raising_listener_is_isolated_logged_by_name_and_the_request_succeeds(make_crm, caplog):
    before, after = Recorder("before"), Recorder("after")
    crm = make_crm(plugins=[before, Raiser(), after])
    with TestClient(create_app(crm, run_jobs=False)) as client, \
            caplog.at_level(logging.ERROR, logger="cultiveat.events"):
        client.headers["Authorization"] = f"Bearer {token_for(crm, 'admin')}"
        response = client.post("/api/contacts", json=person("iso@example.com"))
    assert response.status_code == 201, response.text
    assert before.names("contact_created") == after.names("contact_created") == ["iso@example.com"]
    assert before.names("contacts_created") == after.names("contacts_created")
    assert "plugin raiser raised in event contact_created; other plugins still ran" in caplog.text
    assert "plugin raiser raised in event contacts_created; other plugins still ran" in caplog.text
    assert "RuntimeError: raiser is broken" in caplog.text


def test_a_hanging_listener_does_not_hang_the_request(make_crm, caplog):
    hanger, recorder = Hanger(), Recorder("recorder")
    crm = make_crm(plugins=[hanger, recorder], event_wait_seconds=0.3)
    try:
        with TestClient(create_app(crm, run_jobs=False)) as client, \
                caplog.at_level(logging.WARNING, logger="cultiveat.events"):
            client.headers["Authorization"] = f"Bearer {token_for(crm, 'admin')}"
            started = time.monotonic()
            first = client.post("/api/contacts", json=person("slow1@example.com"))
            second = client.post("/api/contacts", json=person("slow2@example.com"))
            elapsed = time.monotonic() - started
        assert first.status_code == second.status_code == 201
        assert hanger.started.is_set()
        # each request waits at most 0.3 s for the listener hanging (up to 120 s); the margin
        # is for shared, loaded CI machines
        assert elapsed < 20.0, elapsed
        assert "event handlers still running after 0.3s (contact_created)" in caplog.text
        # the hung thread does not block later events for other plugins
        deadline = time.monotonic() + 5
        while len(recorder.names("contacts_created")) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [e for [e] in recorder.names("contacts_created")] == [
            "slow1@example.com", "slow2@example.com"]
    finally:
        hanger.release.set()


def test_two_crms_in_one_process_share_no_plugins_or_events(make_crm):
    first, second = Recorder("first"), Recorder("second")
    crm_a = make_crm(plugins=[first])
    crm_b = make_crm(plugins=[second])
    assert crm_a.pm is not crm_b.pm
    assert crm_a.pm.get_plugin("first") is first and crm_a.pm.get_plugin("second") is None
    assert crm_b.pm.get_plugin("second") is second and crm_b.pm.get_plugin("first") is None
    crm_a.contacts.create(SYSTEM, person("a@example.com"))
    crm_b.contacts.create(SYSTEM, person("b@example.com"))
    assert first.names("contact_created") == ["a@example.com"]
    assert second.names("contact_created") == ["b@example.com"]


def test_plugin_declared_events_fire_after_commit_through_uow_emit(make_crm):
    class Specs:
        @staticmethod
        def thing_happened(crm, what):
            """A plugin-declared event."""

    from cultiveat_core import hookspec

    Specs.thing_happened = staticmethod(hookspec(Specs.thing_happened))

    class Declarer:
        cultiveat_plugin_name = "declarer"
        hookspecs = Specs

    class Listener:
        cultiveat_plugin_name = "listener"
        seen: list[str] = []

        @hookimpl
        def thing_happened(self, crm, what):
            self.seen.append(what)

    listener = Listener()
    crm = make_crm(plugins=[Declarer(), listener])
    with crm.transaction(SYSTEM) as uow:
        uow.emit("thing_happened", what="hello")
        assert listener.seen == []
    assert listener.seen == ["hello"]
    with pytest.raises(ValueError), crm.transaction(SYSTEM) as uow:
        uow.emit("thing_happened", what="never")
        raise ValueError
    assert listener.seen == ["hello"]


def test_a_listener_may_call_services_whose_events_fire_in_its_thread(make_crm):
    class Follower:
        cultiveat_plugin_name = "follower"

        @hookimpl
        def contact_created(self, crm, contact):
            crm.activities.log(SYSTEM, contact.id, "email_opened")

    recorder = Recorder("recorder")
    crm = make_crm(plugins=[Follower(), recorder])
    crm.contacts.create(SYSTEM, person("chain@example.com"))
    assert recorder.names("activity_logged") == ["email_opened"]
    assert recorder.names("activities_logged") == [["email_opened"]]
