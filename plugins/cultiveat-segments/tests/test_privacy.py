"""Subject access shows a contact's segment data; erasure removes it, history included."""

from __future__ import annotations

import sqlalchemy as sa
from cultiveat_segments import tables
from cultiveat_segments.plugin import service
from cultiveat_segments.preferences import set_preferences

from .data import SYSTEM


def test_subject_access_and_erasure_reach_segment_data(client, crm):
    contact = crm.contacts.create(SYSTEM, {"email": "gdpr@example.com", "first_name": "G", "last_name": "D",
                                           "company_size": 500})
    service(crm).create(SYSTEM, {"name": "Mid", "definition": {"field": "company_size", "op": ">", "value": 100}})
    set_preferences(crm, SYSTEM, contact.id, {"preferred_channel": "email"})
    export = client.get(f"/api/contacts/{contact.id}/subject-access")
    assert export.status_code == 200, export.text
    assert "Mid" in export.text and '"preferred_channel":"email"' in export.text.replace(" ", "")
    erased = client.post(f"/api/contacts/{contact.id}/erase", json={"confirm": True})
    assert erased.status_code == 200, erased.text
    with crm.engine.connect() as conn:
        for table in (tables.history, tables.members, tables.preferences):
            assert conn.execute(sa.select(sa.func.count()).select_from(table)
                                .where(table.c.contact_id == contact.id)).scalar_one() == 0
