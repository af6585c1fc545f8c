"""The plugin's table comes from its own Alembic branch, on SQLite and PostgreSQL."""

import cultiveat_example_reminders.plugin
import sqlalchemy as sa
from click.testing import CliRunner

from cultiveat_core.cli import build_cli


def test_migrated_crm_has_the_table_and_no_pending_revision(crm):
    columns = {c["name"] for c in sa.inspect(crm.engine).get_columns("reminders_reminders")}
    assert columns == {"id", "contact_id", "due_at", "note", "created_by", "created_at", "sent_at"}
    assert crm.migration_problem() is None


def test_db_upgrade_creates_the_table_on_an_empty_database(make_crm):
    crm = make_crm(plugins=[cultiveat_example_reminders.plugin], migrate=False)
    assert "reminders_reminders" not in sa.inspect(crm.engine).get_table_names()
    result = CliRunner().invoke(build_cli(crm), ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "reminders_reminders" in sa.inspect(crm.engine).get_table_names()
    assert crm.migration_problem() is None


def test_the_table_follows_the_naming_rules(crm):
    inspector = sa.inspect(crm.engine)
    assert {i["name"] for i in inspector.get_indexes("reminders_reminders")} == {
        "ix_reminders_reminders_contact_id", "ix_reminders_reminders_sent_at_due_at",
    }
    (fk,) = inspector.get_foreign_keys("reminders_reminders")
    assert fk["referred_table"] == "core_contacts"
