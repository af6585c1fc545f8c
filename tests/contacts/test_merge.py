"""Duplicates and merging: everything of the merged contact ends up on the kept one."""

from __future__ import annotations

import sqlalchemy as sa

from cultiveat_core.db import tables
from cultiveat_core.markers import hookimpl


class PluginData:
    """A stand-in plugin with per-contact data it moves on merge and an event it listens to."""

    def __init__(self):
        self.rows = {}
        self.merged = []

    @hookimpl
    def merge_contact_data(self, conn, kept_id, merged_id):
        moved = self.rows.pop(merged_id, [])
        self.rows.setdefault(kept_id, []).extend(moved)
        return {"plugin_things": len(moved)}

    @hookimpl
    def contacts_merged(self, kept, merged):
        self.merged.append((kept.id, merged.id))


def test_merge_moves_activities_tags_notes_and_plugin_data(make_crm, system):
    plugin = PluginData()
    crm = make_crm(plugins=[plugin])
    kept = crm.contacts.create(
        system,
        {
            "email": "ann@acme.com",
            "first_name": "Ann",
            "last_name": "Lee",
            "company": "Acme",
            "tags": ["Enterprise"],
        },
    )
    dupe = crm.contacts.create(
        system,
        {
            "email": "ann.lee@gmail.com",
            "first_name": "ann",
            "last_name": "LEE",
            "company": "ACME",
            "phone": "+1 202 555 0143",
            "position": "CTO",
            "tags": ["Enterprise", "Webinar"],
        },
    )
    crm.activities.log(system, dupe.id, "note", data={"text": "met at the fair"})
    crm.activities.log(system, dupe.id, "email_opened")
    crm.activities.log(system, kept.id, "email_sent")
    plugin.rows[dupe.id] = ["score history"]
    from cultiveat_core.services.merge import find_duplicates, merge_contacts

    assert [c.id for c in find_duplicates(crm, system, kept.id)] == [dupe.id]
    after = merge_contacts(crm, system, kept.id, dupe.id)
    assert after.phone == "+12025550143" and after.position == "CTO"
    assert set(after.tags) == {"Enterprise", "Webinar", "CTO"}
    timeline = crm.activities.timeline(system, kept.id)
    assert sorted(a.type for a in timeline) == ["email_opened", "email_sent", "note"]
    assert plugin.rows == {kept.id: ["score history"]}
    assert plugin.merged == [(kept.id, dupe.id)]
    with crm.engine.connect() as conn:
        assert (
            conn.execute(
                sa.select(tables.contacts.c.id).where(tables.contacts.c.id == dupe.id)
            ).first()
            is None
        )
        merge = conn.execute(sa.select(tables.contact_merges)).mappings().one()
        assert merge["merged_snapshot"]["email"] == "ann.lee@gmail.com"
        assert merge["moved"] == {"activities": 2, "tags": 2, "plugin_things": 1}
        audit = conn.execute(
            sa.select(tables.audit_log.c.changes).where(
                tables.audit_log.c.action == "contact.merge"
            )
        ).scalar_one()
        assert audit["fields_from_merged"]["phone"] == {"value": "+12025550143", "from": dupe.id}


def test_merge_over_http_and_its_permission(client, client_for, samples):
    first, second = samples[0].id, samples[1].id
    assert (
        client_for("sales")
        .post(f"/api/contacts/{first}/merge", json={"merge_id": second})
        .status_code
        == 403
    )
    assert client.post(f"/api/contacts/{first}/merge", json={"merge_id": first}).status_code == 422
    response = client.post(f"/api/contacts/{first}/merge", json={"merge_id": second})
    assert response.status_code == 200
    assert client.get(f"/api/contacts/{second}").status_code == 404
    assert "Newsletter" in response.json()["tags"]
