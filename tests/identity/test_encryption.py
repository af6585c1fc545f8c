"""Sensitive fields: masked in exports (HTTP and CLI), encrypted at rest, blind index, rotation."""

from __future__ import annotations

import csv
import io

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from openpyxl import load_workbook

from cultiveat_core.cli.main import build_cli
from cultiveat_core.crypto import generate_key
from cultiveat_core.db import tables
from cultiveat_core.errors import ConfigurationError
from cultiveat_core.privacy.encryption import encrypt_contact_rows, rotate_all
from cultiveat_core.services.merge import find_duplicates

from .conftest import SYSTEM

MIA = {"email": "mia@example.com", "first_name": "Mia", "last_name": "Ross",
       "phone": "+1 202 555 0143", "notes": "allergic to peanuts"}
c = tables.contacts


def raw(crm, contact_id: int) -> dict:
    """The stored row, bypassing the column types (what a stolen database file shows)."""
    with crm.engine.connect() as conn:
        row = conn.execute(
            sa.select(sa.type_coerce(c.c.phone, sa.String).label("phone"),
                      sa.type_coerce(c.c.notes, sa.String).label("notes"), c.c.phone_key)
            .where(c.c.id == contact_id)
        ).mappings().one()
    return dict(row)


def csv_rows(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


def analyst(crm):
    """A custom role that may export but not see sensitive fields."""
    crm.permissions.define_role(SYSTEM, "analyst", ["contacts.read", "contacts.export"])
    return crm.users.create(SYSTEM, "analyst@example.com", "analyst")


@pytest.fixture(params=["plain", "encrypted"])
def crm(request, make_crm):
    keys = generate_key() if request.param == "encrypted" else ""
    return make_crm(cookie_secure=False, field_encryption_keys=keys)


def test_exports_mask_sensitive_fields_for_roles_without_the_permission(crm, client, client_for):
    contact = crm.contacts.create(SYSTEM, MIA)
    analyst(crm)
    token = crm.tokens.create(SYSTEM, crm.users.get_by_email("analyst@example.com"), name="t")[1]
    masked_client = client_for("sales")
    masked_client.headers["Authorization"] = f"Bearer {token}"

    for fmt in ("csv", "xlsx"):
        full = client.get("/api/contacts/export", params={"format": fmt})
        masked = masked_client.get("/api/contacts/export", params={"format": fmt})
        assert full.status_code == masked.status_code == 200, masked.text
        if fmt == "csv":
            full_row, masked_row = csv_rows(full.content)[0], csv_rows(masked.content)[0]
        else:
            sheets = [load_workbook(io.BytesIO(r.content)).active for r in (full, masked)]
            full_row, masked_row = ({h.value: v.value for h, v in zip(s[1], s[2], strict=True)}
                                    for s in sheets)
        assert full_row["id"] == masked_row["id"] in (contact.id, str(contact.id))
        assert full_row["phone"] == "'+12025550143"  # a formula start gets its quote
        assert full_row["notes"] == "allergic to peanuts"
        assert masked_row["phone"].endswith("43") and "202555" not in masked_row["phone"]
        assert masked_row["notes"] == "***"
        assert masked_row["email"] == "mia@example.com"  # not sensitive

    # the CLI exports as the system, or as a user with that user's masking
    runner = CliRunner()
    with runner.isolated_filesystem():
        done = runner.invoke(build_cli(crm), ["export", "contacts", "--out", "all.csv"],
                             catch_exceptions=False)
        assert done.exit_code == 0, done.output
        as_analyst = runner.invoke(
            build_cli(crm),
            ["export", "contacts", "--out", "masked.csv", "--as", "analyst@example.com"],
            catch_exceptions=False,
        )
        assert as_analyst.exit_code == 0, as_analyst.output
        with open("all.csv", "rb") as f:
            assert csv_rows(f.read())[0]["phone"] == "'+12025550143"
        with open("masked.csv", "rb") as f:
            row = csv_rows(f.read())[0]
        assert "202555" not in row["phone"] and row["notes"] == "***"
        unknown = runner.invoke(build_cli(crm), ["export", "contacts", "--out", "x.csv", "--as",
                                                 "nobody@example.com"], catch_exceptions=False)
        assert unknown.exit_code == 1 and "nobody@example.com" in unknown.output


def test_sensitive_fields_are_encrypted_at_rest_and_read_decrypted(crm, client, client_for):
    created = client.post("/api/contacts", json=MIA)
    assert created.status_code == 201, created.text
    contact_id = created.json()["id"]
    assert created.json()["phone"] == "+12025550143"
    stored = raw(crm, contact_id)
    if crm.cipher.enabled:
        assert stored["phone"].startswith("enc:") and "0143" not in stored["phone"]
        assert stored["notes"].startswith("enc:") and "peanuts" not in stored["notes"]
    else:
        assert stored["phone"] == "+12025550143"
    assert stored["phone_key"] == crm.cipher.blind_index("+12025550143")
    assert len(stored["phone_key"]) == 64 and "0143" not in stored["phone_key"]

    # reads decrypt: API, list, subject access; masking still applies on top
    assert client.get(f"/api/contacts/{contact_id}").json()["notes"] == "allergic to peanuts"
    listed = client.get("/api/contacts", params={"q": "mia"}).json()["items"]
    assert listed[0]["phone"] == "+12025550143"
    access = client.get(f"/api/contacts/{contact_id}/subject-access")
    assert access.status_code == 200 and "allergic to peanuts" in access.text
    assert "enc:" not in access.text
    executive = client_for("executive").get(f"/api/contacts/{contact_id}").json()
    assert "202555" not in executive["phone"] and executive["notes"] == "***"

    # updates re-encrypt and move the blind index with the phone
    changed = client.patch(f"/api/contacts/{contact_id}", json={"phone": "+1 202 555 0199"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["phone"] == "+12025550199"
    stored = raw(crm, contact_id)
    assert stored["phone_key"] == crm.cipher.blind_index("+12025550199")
    assert stored["phone"].startswith("enc:") == crm.cipher.enabled

    # duplicate detection by phone goes through the blind index
    twin = crm.contacts.create(SYSTEM, {**MIA, "email": "twin@example.com", "first_name": "Tia",
                                        "phone": "+1 (202) 555-0199"})
    assert [d.id for d in find_duplicates(crm, SYSTEM, contact_id)] == [twin.id]


def test_encrypt_contact_rows_dicts_and_tuples(crm):
    rows = encrypt_contact_rows(crm, [{"email": "a@example.com", "phone": "+331234", "notes": None},
                                      {"email": "b@example.com", "phone": None, "notes": "x"}])
    assert rows[0]["phone_key"] == crm.cipher.blind_index("+331234") and rows[1]["phone_key"] is None
    assert rows[1]["notes"].startswith("enc:") == crm.cipher.enabled
    assert crm.cipher.decrypt(rows[0]["phone"]) == "+331234"
    again = encrypt_contact_rows(crm, rows)
    assert again[0]["phone"] == rows[0]["phone"]  # idempotent: encrypted values stay as they are
    tuples = encrypt_contact_rows(crm, [("a@example.com", "+331234", None, "n")],
                                  columns=("email", "phone", "phone_key", "notes"))
    assert isinstance(tuples[0], tuple) and tuples[0][0] == "a@example.com"
    assert tuples[0][2] == crm.cipher.blind_index("+33 1234")
    assert crm.cipher.decrypt(tuples[0][3]) == "n"


def test_rotation_encrypts_old_plaintext_and_moves_to_the_new_key(make_crm):
    crm = make_crm(field_encryption_keys=generate_key())
    contact = crm.contacts.create(SYSTEM, MIA)
    with crm.begin() as conn:  # a row written before keys were configured
        conn.execute(sa.text("UPDATE core_contacts SET notes = 'old plaintext', phone_key = NULL "
                             "WHERE id = :i"), {"i": contact.id})
    old_key = crm.settings.field_encryption_keys
    new_key = generate_key()
    url = crm.settings.database_url
    rotated = make_crm(database_url=url, field_encryption_keys=f"{new_key},{old_key}")
    counts = rotate_all(rotated)
    assert counts["core_contacts.phone"] == 1 and counts["core_contacts.notes"] == 1
    stored = raw(rotated, contact.id)
    assert stored["notes"].startswith("enc:") and stored["phone_key"]
    only_new = make_crm(database_url=url, field_encryption_keys=new_key)
    assert only_new.contacts.get(SYSTEM, contact.id).notes == "old plaintext"
    assert only_new.contacts.get(SYSTEM, contact.id).phone == "+12025550143"
    only_old = make_crm(database_url=url, field_encryption_keys=old_key)
    with pytest.raises(ConfigurationError, match="cannot be decrypted"):
        only_old.contacts.get(SYSTEM, contact.id)
    cli = CliRunner().invoke(build_cli(only_new), ["keys", "rotate"], catch_exceptions=False)
    assert cli.exit_code == 0 and '"core_contacts.phone": 1' in cli.output


def test_encryption_without_an_index_key_is_refused(make_crm):
    with pytest.raises(ConfigurationError, match="CULTIVEAT_BLIND_INDEX_KEY"):
        make_crm(field_encryption_keys=generate_key(), secret_key="", migrate=False)


def test_audit_trail_and_merge_snapshots_hold_sensitive_fields_encrypted(crm, client):
    """The audit record of a create and of an update, and a merge's snapshot of the merged
    contact, store phone and notes encrypted (keys set); the audit API decrypts them for a role
    with contacts.read_sensitive and shows [encrypted] to one without; the chain verifies."""
    from cultiveat_core.privacy.encryption import HIDDEN
    from cultiveat_core.services.audit import verify_chain
    from cultiveat_core.services.merge import merge_contacts

    contact = crm.contacts.create(SYSTEM, MIA)
    crm.contacts.update(SYSTEM, contact.id, {"phone": "+1 202 555 0199", "notes": "prefers email"})
    twin = crm.contacts.create(SYSTEM, {**MIA, "email": "mia.ross@example.com", "notes": "second note"})
    merge_contacts(crm, SYSTEM, contact.id, twin.id)
    with crm.engine.connect() as conn:
        stored = " ".join(
            str(v) for v in conn.execute(sa.select(tables.audit_log.c.changes)).scalars()
        ) + " ".join(str(v) for v in conn.execute(sa.select(tables.contact_merges.c.merged_snapshot)).scalars())
        assert verify_chain(conn)[1] == []
    encrypted = crm.cipher.enabled
    secrets = ("5550143", "allergic to peanuts", "5550199", "prefers email", "second note")
    for secret in secrets:
        assert (secret in stored) is not encrypted, secret  # without keys the same check sees them

    admin_view = client.get("/api/audit", params={"object_type": "contact", "object_id": str(contact.id)})
    assert admin_view.status_code == 200
    text = str(admin_view.json()["items"])
    assert "allergic to peanuts" in text and "prefers email" in text
    crm.permissions.define_role(SYSTEM, "auditor", ["audit.read"])
    auditor = crm.users.create(SYSTEM, "auditor@example.com", "auditor")
    token = crm.tokens.create(SYSTEM, auditor, name="t")[1]
    masked = client.get("/api/audit", params={"object_type": "contact", "object_id": str(contact.id)},
                        headers={"Authorization": f"Bearer {token}"})
    assert masked.status_code == 200
    masked_text = str(masked.json()["items"])
    assert "allergic to peanuts" not in masked_text or not encrypted
    if encrypted:
        assert HIDDEN in masked_text
