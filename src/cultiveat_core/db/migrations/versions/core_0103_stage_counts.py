"""contacts per stage, kept by database triggers (the hot-leads KPI reads it, never counts rows)

Revision ID: core_0103_stage_counts
Revises: core_0102_list_filter_indexes
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "core_0103_stage_counts"
down_revision: str | Sequence[str] | None = "core_0102_list_filter_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Inserts and deletes are counted per statement (transition tables, so COPY and bulk inserts
# pay one upsert per stage); a stage change per changed row only (UPDATE OF stage ... WHEN), so
# other updates cost nothing.
PG_TRIGGERS = """
CREATE FUNCTION core_stage_counts_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO core_contact_stage_counts (stage, total)
  SELECT stage, count(*) FROM new_rows WHERE stage IS NOT NULL GROUP BY 1
  ON CONFLICT (stage) DO UPDATE SET total = core_contact_stage_counts.total + EXCLUDED.total;
  RETURN NULL;
END $$;
CREATE FUNCTION core_stage_counts_remove() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE core_contact_stage_counts AS sc SET total = sc.total - gone.n
  FROM (SELECT stage, count(*) AS n FROM old_rows WHERE stage IS NOT NULL GROUP BY 1) AS gone
  WHERE sc.stage = gone.stage;
  RETURN NULL;
END $$;
CREATE FUNCTION core_stage_counts_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.stage IS NOT NULL THEN
    UPDATE core_contact_stage_counts SET total = total - 1 WHERE stage = OLD.stage;
  END IF;
  IF NEW.stage IS NOT NULL THEN
    INSERT INTO core_contact_stage_counts (stage, total) VALUES (NEW.stage, 1)
    ON CONFLICT (stage) DO UPDATE SET total = core_contact_stage_counts.total + 1;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER core_contacts_stage_insert AFTER INSERT ON core_contacts
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION core_stage_counts_add();
CREATE TRIGGER core_contacts_stage_delete AFTER DELETE ON core_contacts
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION core_stage_counts_remove();
CREATE TRIGGER core_contacts_stage_update AFTER UPDATE OF stage ON core_contacts
  FOR EACH ROW WHEN (OLD.stage IS DISTINCT FROM NEW.stage) EXECUTE FUNCTION core_stage_counts_change();
"""

SQLITE_TRIGGERS = [
    """CREATE TRIGGER core_contacts_stage_insert AFTER INSERT ON core_contacts
         WHEN NEW.stage IS NOT NULL BEGIN
         INSERT INTO core_contact_stage_counts (stage, total) VALUES (NEW.stage, 1)
         ON CONFLICT (stage) DO UPDATE SET total = total + 1;
       END""",
    """CREATE TRIGGER core_contacts_stage_delete AFTER DELETE ON core_contacts
         WHEN OLD.stage IS NOT NULL BEGIN
         UPDATE core_contact_stage_counts SET total = total - 1 WHERE stage = OLD.stage;
       END""",
    """CREATE TRIGGER core_contacts_stage_update AFTER UPDATE OF stage ON core_contacts
         WHEN OLD.stage IS NOT NEW.stage BEGIN
         UPDATE core_contact_stage_counts SET total = total - 1 WHERE stage = OLD.stage;
         INSERT INTO core_contact_stage_counts (stage, total) SELECT NEW.stage, 1 WHERE NEW.stage IS NOT NULL
         ON CONFLICT (stage) DO UPDATE SET total = total + 1;
       END""",
]
TRIGGERS = ("core_contacts_stage_insert", "core_contacts_stage_delete", "core_contacts_stage_update")


def upgrade() -> None:
    op.create_table(
        "core_contact_stage_counts",
        sa.Column("stage", sa.String(50), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("stage", name=op.f("pk_core_contact_stage_counts")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_TRIGGERS)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
    op.execute(
        "INSERT INTO core_contact_stage_counts (stage, total) "
        "SELECT stage, count(*) FROM core_contacts WHERE stage IS NOT NULL GROUP BY stage"
    )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON core_contacts" if postgres else ""))
    if postgres:
        for function in ("core_stage_counts_add", "core_stage_counts_remove", "core_stage_counts_change"):
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    op.drop_table("core_contact_stage_counts")
