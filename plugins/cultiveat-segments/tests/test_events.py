"""Event-driven membership: after any change, members equal what a full refresh computes."""

from __future__ import annotations

from datetime import timedelta

import cultiveat_segments.plugin
import sqlalchemy as sa
from cultiveat_segments import membership, tables
from cultiveat_segments.plugin import service

from cultiveat_core import hookimpl

from .data import SYSTEM, now, populate

DEFINITIONS = {
    "Clickers": {"activity": "email_clicked", "within_days": 14, "min_count": 2},
    "Big or tagged": {
        "any": [{"field": "company_size", "op": ">", "value": 1000}, {"tag": "Alpha"}]
    },
    "Buyers without demo": {
        "all": [
            {"purchase": "purchase_count", "op": ">=", "value": 1},
            {"not": {"activity": "demo_requested"}},
        ]
    },
    "Email people": {"preference": "preferred_channel", "op": "=", "value": "email"},
}


class Listener:
    def __init__(self):
        self.calls = []

    @hookimpl
    def segment_membership_changed(self, crm, segment_id, segment_name, entered, left, reason):
        self.calls.append((segment_name, tuple(entered), tuple(left), reason))


def snapshot(crm):
    m = tables.members
    with crm.engine.connect() as conn:
        return set(conn.execute(sa.select(m.c.segment_id, m.c.contact_id)).all())


def assert_matches_full_refresh(crm):
    before = snapshot(crm)
    results = membership.refresh(crm)
    assert [(r.name, r.entered, r.left) for r in results if r.entered or r.left] == []
    assert snapshot(crm) == before


def make_segments(crm):
    return {
        name: service(crm).create(SYSTEM, {"name": name, "definition": d})["id"]
        for name, d in DEFINITIONS.items()
    }


def test_contacts_and_activities_update_memberships_within_the_transaction_events(crm):
    segments = make_segments(crm)
    ids = populate(crm, seed=5, count=30)
    assert_matches_full_refresh(crm)
    assert service(crm).get(SYSTEM, segments["Big or tagged"])["member_count"] > 0
    # a contact changes: enters by size, another leaves by losing its tag
    crm.contacts.update(SYSTEM, ids[0], {"company_size": 5000})
    crm.contacts.update(SYSTEM, ids[1], {"company_size": 5, "tags": []})
    # new clicks put a contact in "Clickers" at once
    t = now()
    crm.activities.log_many(
        SYSTEM,
        [
            {"contact_id": ids[2], "type": "email_clicked", "occurred_at": t - timedelta(hours=h)}
            for h in (1, 2)
        ],
    )
    crm.activities.log(SYSTEM, ids[3], "demo_requested")
    from cultiveat_segments.api import is_member

    assert is_member(crm, segments["Clickers"], ids[2])
    assert is_member(crm, segments["Big or tagged"], ids[0])
    assert not is_member(crm, segments["Buyers without demo"], ids[3])
    crm.contacts.delete(SYSTEM, ids[4])
    assert_matches_full_refresh(crm)
    counts = {s["id"]: s["member_count"] for s in service(crm).list(SYSTEM)}
    for name, segment_id in segments.items():
        assert counts[segment_id] == len([1 for sid, _ in snapshot(crm) if sid == segment_id]), name


def test_membership_changes_fire_an_event_and_are_kept_in_history(make_crm, client_for):
    listener = Listener()
    crm = make_crm(plugins=[cultiveat_segments.plugin, listener])
    seg = service(crm).create(
        SYSTEM, {"name": "Big", "definition": {"field": "company_size", "op": ">", "value": 100}}
    )
    contact = crm.contacts.create(
        SYSTEM, {"email": "a@b.com", "first_name": "A", "last_name": "B", "company_size": 500}
    )
    crm.contacts.update(SYSTEM, contact.id, {"company_size": 50})
    mine = [c for c in listener.calls if c[0] == "Big"]
    assert mine == [("Big", (contact.id,), (), "event"), ("Big", (), (contact.id,), "event")]
    history = service(crm).history(SYSTEM, seg["id"])["items"]
    assert [(h["contact_id"], h["change"], h["reason"]) for h in history] == [
        (contact.id, "left", "event"),
        (contact.id, "entered", "event"),
    ]


def test_large_batches_are_re_evaluated_by_jobs(make_crm):
    crm = make_crm(
        plugins=[cultiveat_segments.plugin], environ={"CULTIVEAT_SEGMENTS_EVENT_DIRECT_LIMIT": "3"}
    )
    seg = service(crm).create(
        SYSTEM, {"name": "Big", "definition": {"field": "company_size", "op": ">", "value": 100}}
    )
    crm.contacts.create_many(
        SYSTEM,
        [
            {
                "email": f"x{i}@b.com",
                "first_name": "X",
                "last_name": "Y",
                "company_size": 1000 * (i % 2),
            }
            for i in range(10)
        ],
    )
    assert service(crm).get(SYSTEM, seg["id"])["member_count"] == 0  # queued, not yet run
    crm.jobs.run_pending()
    assert service(crm).get(SYSTEM, seg["id"])["member_count"] == 5
    assert_matches_full_refresh(crm)


def test_daily_refresh_is_a_periodic_task(crm):
    periodic = crm.registry.periodic_tasks["segments.daily_refresh"]
    assert periodic.task == "segments.refresh" and periodic.every == timedelta(hours=24)
