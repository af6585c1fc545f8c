"""The identity CLI: users with passwords from stdin, tokens, audit verify, backup and restore."""

from __future__ import annotations

import sqlalchemy as sa
from click.testing import CliRunner

from cultiveat_core.cli.main import build_cli
from cultiveat_core.db import tables

from .conftest import SYSTEM, count


def run(crm, *args, input=None):
    return CliRunner().invoke(build_cli(crm), list(args), input=input, catch_exceptions=False)


def test_users_create_asks_twice_and_set_password(crm):
    different = run(crm, "users", "create", "ann@example.com", "--role", "sales",
                    input="a long passphrase\nanother one\n")
    assert different.exit_code == 1 and "differ" in different.output
    weak = run(crm, "users", "create", "ann@example.com", "--role", "sales", input="password\npassword\n")
    assert weak.exit_code == 1 and "too common" in weak.output
    created = run(crm, "users", "create", "ann@example.com", "--role", "sales",
                  input="a long passphrase\na long passphrase\n")
    assert created.exit_code == 0, created.output
    assert crm.auth.login("ann@example.com", "a long passphrase").user.role == "sales"
    changed = run(crm, "users", "set-password", "ann@example.com",
                  input="my new passphrase\nmy new passphrase\n")
    assert changed.exit_code == 0, changed.output
    assert crm.auth.login("ann@example.com", "my new passphrase")


def test_tokens_with_scopes_and_audit_verify(crm):
    crm.users.create(SYSTEM, "bo@example.com", "marketing")
    made = run(crm, "tokens", "create", "bo@example.com", "--scope", "contacts.read", "--expires-days", "30")
    assert made.exit_code == 0, made.output
    plain = made.output.strip().splitlines()[-1]
    actor = crm.tokens.authenticate(plain)
    assert actor.can("contacts.read") and not actor.can("contacts.create")
    listed = run(crm, "tokens", "list", "bo@example.com")
    assert "contacts.read" in listed.output and plain not in listed.output
    bad = run(crm, "tokens", "create", "bo@example.com", "--scope", "nonsense.perm")
    assert bad.exit_code == 1 and "unknown scope" in bad.output
    verified = run(crm, "audit", "verify")
    assert verified.exit_code == 0 and "intact" in verified.output


def test_backup_verify_and_restore(crm, tmp_path):
    for i in range(5):
        crm.contacts.create(SYSTEM, {"email": f"c{i}@example.com", "first_name": "C", "last_name": str(i)})
    target = tmp_path / "backup.dump"
    made = run(crm, "backup", str(target))
    assert made.exit_code == 0, made.output
    assert "verified" in made.output and (tmp_path / "backup.dump.json").exists()
    crm.contacts.create(SYSTEM, {"email": "later@example.com", "first_name": "L", "last_name": "Ater"})
    assert count(crm, tables.contacts) == 6
    restored = run(crm, "restore", str(target), "--yes")
    assert restored.exit_code == 0, restored.output
    assert count(crm, tables.contacts) == 5
    with crm.engine.connect() as conn:
        emails = set(conn.execute(sa.select(tables.contacts.c.email)).scalars())
    assert "later@example.com" not in emails
    target.write_bytes(target.read_bytes()[:-10] + b"corrupted!")
    broken = run(crm, "restore", str(target), "--verify-only")
    assert broken.exit_code == 1 and "manifest" in broken.output
