"""contacts domain: search document, KPI counters, custom fields, note history, merges, imports

Revision ID: core_0100_contacts_domain
Revises: core_0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cultiveat_core.db.metadata import JSONType, UTCDateTime

revision: str = "core_0100_contacts_domain"
down_revision: str | Sequence[str] | None = "core_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIST_INDEXES = {
    "ix_core_contacts_company_name_id": ["company", "id"],
    "ix_core_contacts_type_id": ["type", "id"],
    "ix_core_contacts_channel_id": ["channel", "id"],
    "ix_core_contacts_industry_id": ["industry", "id"],
    "ix_core_contacts_size_id": ["company_size", "id"],
    "ix_core_contacts_created_id": ["created_at", "id"],
    "ix_core_contacts_activity_id": ["last_activity_at", "id"],
}

PG_COUNT_TRIGGERS = """
CREATE FUNCTION core_contact_counts_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO core_contact_counts (month, total)
  SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM'), count(*) FROM new_rows GROUP BY 1
  ON CONFLICT (month) DO UPDATE SET total = core_contact_counts.total + EXCLUDED.total;
  RETURN NULL;
END $$;
CREATE FUNCTION core_contact_counts_remove() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE core_contact_counts AS cc SET total = cc.total - gone.n
  FROM (SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM') AS month, count(*) AS n
        FROM old_rows GROUP BY 1) AS gone
  WHERE cc.month = gone.month;
  RETURN NULL;
END $$;
CREATE TRIGGER core_contacts_count_insert AFTER INSERT ON core_contacts
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION core_contact_counts_add();
CREATE TRIGGER core_contacts_count_delete AFTER DELETE ON core_contacts
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION core_contact_counts_remove();
"""

SQLITE_TRIGGERS = [
    """CREATE TRIGGER core_contacts_count_insert AFTER INSERT ON core_contacts BEGIN
         INSERT INTO core_contact_counts (month, total) VALUES (strftime('%Y-%m', NEW.created_at), 1)
         ON CONFLICT (month) DO UPDATE SET total = total + 1;
       END""",
    """CREATE TRIGGER core_contacts_count_delete AFTER DELETE ON core_contacts BEGIN
         UPDATE core_contact_counts SET total = total - 1 WHERE month = strftime('%Y-%m', OLD.created_at);
       END""",
    # FTS5 external-content table over search_doc; the trigram tokenizer gives substring search.
    """CREATE VIRTUAL TABLE core_contacts_fts USING fts5(
         search_doc, content='core_contacts', content_rowid='id', tokenize='trigram')""",
    """CREATE TRIGGER core_contacts_fts_insert AFTER INSERT ON core_contacts
         WHEN NEW.search_doc IS NOT NULL BEGIN
         INSERT INTO core_contacts_fts (rowid, search_doc) VALUES (NEW.id, NEW.search_doc);
       END""",
    """CREATE TRIGGER core_contacts_fts_delete AFTER DELETE ON core_contacts
         WHEN OLD.search_doc IS NOT NULL BEGIN
         INSERT INTO core_contacts_fts (core_contacts_fts, rowid, search_doc)
           VALUES ('delete', OLD.id, OLD.search_doc);
       END""",
    """CREATE TRIGGER core_contacts_fts_update AFTER UPDATE OF search_doc ON core_contacts BEGIN
         INSERT INTO core_contacts_fts (core_contacts_fts, rowid, search_doc)
           SELECT 'delete', OLD.id, OLD.search_doc WHERE OLD.search_doc IS NOT NULL;
         INSERT INTO core_contacts_fts (rowid, search_doc)
           SELECT NEW.id, NEW.search_doc WHERE NEW.search_doc IS NOT NULL;
       END""",
]


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    op.add_column("core_contacts", sa.Column("search_doc", sa.Text(), nullable=True))
    for name, columns in LIST_INDEXES.items():
        op.create_index(name, "core_contacts", columns)
    op.create_table(
        "core_contact_counts",
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("month", name=op.f("pk_core_contact_counts")),
    )
    op.create_table(
        "core_custom_fields",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("choices", JSONType, nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("plugin", sa.String(100), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_core_custom_fields")),
    )
    op.create_table(
        "core_activity_revisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("activity_id", sa.Integer(), nullable=False),
        sa.Column("data", JSONType, nullable=False),
        sa.Column("edited_by", sa.Integer(), nullable=True),
        sa.Column("edited_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["activity_id"],
            ["core_activities.id"],
            ondelete="CASCADE",
            name=op.f("fk_core_activity_revisions_activity_id_core_activities"),
        ),
        sa.ForeignKeyConstraint(
            ["edited_by"],
            ["core_users.id"],
            ondelete="SET NULL",
            name=op.f("fk_core_activity_revisions_edited_by_core_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_activity_revisions")),
    )
    op.create_index(
        "ix_core_activity_revisions_activity_id", "core_activity_revisions", ["activity_id"]
    )
    op.create_table(
        "core_contact_merges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kept_id", sa.Integer(), nullable=False),
        sa.Column("merged_id", sa.Integer(), nullable=False),
        sa.Column("merged_snapshot", JSONType, nullable=False),
        sa.Column("moved", JSONType, nullable=False),
        sa.Column("merged_by", sa.Integer(), nullable=True),
        sa.Column("merged_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merged_by"],
            ["core_users.id"],
            ondelete="SET NULL",
            name=op.f("fk_core_contact_merges_merged_by_core_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_contact_merges")),
    )
    op.create_index("ix_core_contact_merges_kept_id", "core_contact_merges", ["kept_id"])
    op.create_table(
        "core_imports",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("job_id", sa.String(36), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("filename", sa.String(300), nullable=False, server_default=""),
        sa.Column("size", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("options", JSONType, nullable=False),
        sa.Column("source", sa.String(30), nullable=True),
        sa.Column("rows_done", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("updated", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("skipped", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("errors", JSONType, nullable=False),
        sa.Column("error_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["core_users.id"],
            ondelete="SET NULL",
            name=op.f("fk_core_imports_created_by_core_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_imports")),
    )
    op.create_table(
        "core_import_chunks",
        sa.Column("import_id", sa.String(36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["core_imports.id"],
            ondelete="CASCADE",
            name=op.f("fk_core_import_chunks_import_id_core_imports"),
        ),
        sa.PrimaryKeyConstraint("import_id", "seq", name=op.f("pk_core_import_chunks")),
    )
    if postgres:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            "CREATE INDEX ix_core_contacts_search_trgm ON core_contacts "
            "USING gin (search_doc gin_trgm_ops)"
        )
        op.execute(PG_COUNT_TRIGGERS)
        month = "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM')"
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
        month = "strftime('%Y-%m', created_at)"
    op.execute(
        f"INSERT INTO core_contact_counts (month, total) "
        f"SELECT {month}, count(*) FROM core_contacts GROUP BY 1"
    )
    # existing contacts get their search document (tags included) once
    tags_agg = "string_agg(t.name, ' ')" if postgres else "group_concat(t.name, ' ')"
    doc = (
        "first_name || ' ' || last_name || ' ' || email || ' ' || coalesce(company, '') || ' ' "
        "|| coalesce(position, '') || ' ' || coalesce((SELECT "
        + tags_agg
        + " FROM core_contact_tags ct "
        "JOIN core_tags t ON t.id = ct.tag_id WHERE ct.contact_id = core_contacts.id), '')"
    )
    op.execute(f"UPDATE core_contacts SET search_doc = {'lower(' + doc + ')' if postgres else doc}")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS core_contacts_count_insert ON core_contacts")
        op.execute("DROP TRIGGER IF EXISTS core_contacts_count_delete ON core_contacts")
        op.execute("DROP FUNCTION IF EXISTS core_contact_counts_add()")
        op.execute("DROP FUNCTION IF EXISTS core_contact_counts_remove()")
        op.execute("DROP INDEX IF EXISTS ix_core_contacts_search_trgm")
    else:
        for name in (
            "core_contacts_count_insert",
            "core_contacts_count_delete",
            "core_contacts_fts_insert",
            "core_contacts_fts_delete",
            "core_contacts_fts_update",
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS core_contacts_fts")
    op.drop_table("core_import_chunks")
    op.drop_table("core_imports")
    op.drop_index("ix_core_contact_merges_kept_id", "core_contact_merges")
    op.drop_table("core_contact_merges")
    op.drop_index("ix_core_activity_revisions_activity_id", "core_activity_revisions")
    op.drop_table("core_activity_revisions")
    op.drop_table("core_custom_fields")
    op.drop_table("core_contact_counts")
    for name in LIST_INDEXES:
        op.drop_index(name, "core_contacts")
    with op.batch_alter_table("core_contacts") as batch:
        batch.drop_column("search_doc")
