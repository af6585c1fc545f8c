"""identity: credentials, MFA, sessions, login throttling, roles, consent, erasure, audit redaction

Revision ID: core_0200_identity
Revises: core_0001
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cultiveat_core.db.metadata import JSONType, UTCDateTime

revision: str = "core_0200_identity"
down_revision: str | Sequence[str] | None = "core_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The audit log is append-only for every role: no DELETE, and UPDATE only to redact
# ``changes`` (erasure) while keeping the hashed fields identical.
PG_AUDIT_GUARD = """
CREATE OR REPLACE FUNCTION core_audit_log_guard() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'core_audit_log is append-only';
  END IF;
  IF NEW.id <> OLD.id OR NEW.occurred_at <> OLD.occurred_at OR NEW.actor <> OLD.actor
     OR NEW.action <> OLD.action OR NEW.object_type <> OLD.object_type
     OR NEW.hash <> OLD.hash OR NEW.prev_hash <> OLD.prev_hash
     OR NEW.changes_hash IS DISTINCT FROM OLD.changes_hash
     OR NEW.object_id IS DISTINCT FROM OLD.object_id
     OR NEW.actor_id IS DISTINCT FROM OLD.actor_id
     OR NEW.request_id IS DISTINCT FROM OLD.request_id
     OR NEW.redacted_at IS NULL THEN
    RAISE EXCEPTION 'core_audit_log is append-only (only redaction of changes is allowed)';
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
"""
PG_AUDIT_TRIGGER = """
CREATE TRIGGER core_audit_log_append_only BEFORE UPDATE OR DELETE ON core_audit_log
FOR EACH ROW EXECUTE FUNCTION core_audit_log_guard();
"""
SQLITE_AUDIT_TRIGGERS = [
    """CREATE TRIGGER core_audit_log_no_delete BEFORE DELETE ON core_audit_log
    BEGIN SELECT RAISE(ABORT, 'core_audit_log is append-only'); END""",
    """CREATE TRIGGER core_audit_log_redact_only BEFORE UPDATE ON core_audit_log
    WHEN NEW.id IS NOT OLD.id OR NEW.occurred_at IS NOT OLD.occurred_at OR NEW.actor IS NOT OLD.actor
      OR NEW.action IS NOT OLD.action OR NEW.object_type IS NOT OLD.object_type
      OR NEW.object_id IS NOT OLD.object_id OR NEW.actor_id IS NOT OLD.actor_id
      OR NEW.request_id IS NOT OLD.request_id OR NEW.hash IS NOT OLD.hash
      OR NEW.prev_hash IS NOT OLD.prev_hash OR NEW.changes_hash IS NOT OLD.changes_hash
      OR NEW.redacted_at IS NULL
    BEGIN SELECT RAISE(ABORT, 'core_audit_log is append-only (only redaction of changes is allowed)'); END""",
]


def upgrade() -> None:
    with op.batch_alter_table("core_audit_log") as batch:
        batch.add_column(sa.Column("changes_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("redacted_at", UTCDateTime(timezone=True), nullable=True))
    op.create_table(
        "core_user_auth",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("password_changed_at", UTCDateTime(timezone=True)),
        sa.Column("totp_secret", sa.String(500)),
        sa.Column("totp_pending_secret", sa.String(500)),
        sa.Column("totp_enabled_at", UTCDateTime(timezone=True)),
        sa.Column("totp_last_step", sa.BigInteger(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["core_users.id"], name=op.f("fk_core_user_auth_user_id_core_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_core_user_auth")),
    )
    op.create_table(
        "core_recovery_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("used_at", UTCDateTime(timezone=True)),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["core_users.id"],
                                name=op.f("fk_core_recovery_codes_user_id_core_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_recovery_codes")),
    )
    op.create_index("ix_core_recovery_codes_user_id", "core_recovery_codes", ["user_id"])
    op.create_table(
        "core_sessions",
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("mfa_passed", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("ip", sa.String(64)),
        sa.Column("user_agent", sa.String(300)),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", UTCDateTime(timezone=True)),
        sa.ForeignKeyConstraint(["user_id"], ["core_users.id"], name=op.f("fk_core_sessions_user_id_core_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_core_sessions")),
    )
    op.create_index("ix_core_sessions_user_id", "core_sessions", ["user_id"])
    op.create_table(
        "core_login_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email_key", sa.String(320), nullable=False),
        sa.Column("ip", sa.String(64)),
        sa.Column("occurred_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_login_failures")),
    )
    op.create_index("ix_core_login_failures_email_occurred", "core_login_failures", ["email_key", "occurred_at"])
    op.create_index("ix_core_login_failures_ip_occurred", "core_login_failures", ["ip", "occurred_at"])
    op.create_table(
        "core_password_resets",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", UTCDateTime(timezone=True)),
        sa.ForeignKeyConstraint(["user_id"], ["core_users.id"],
                                name=op.f("fk_core_password_resets_user_id_core_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_core_password_resets")),
    )
    op.create_index("ix_core_password_resets_user_id", "core_password_resets", ["user_id"])
    op.create_table(
        "core_roles",
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("description", sa.String(300), server_default="", nullable=False),
        sa.Column("permissions", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_core_roles")),
    )
    op.create_table(
        "core_consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(50), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("actor_id", sa.Integer()),
        sa.Column("recorded_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["core_contacts.id"],
                                name=op.f("fk_core_consents_contact_id_core_contacts"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_consents")),
    )
    op.create_index("ix_core_consents_contact_purpose_id", "core_consents", ["contact_id", "purpose", "id"])
    op.create_table(
        "core_erasure_tombstones",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email_hash", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(50), nullable=False),
        sa.Column("erased_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_erasure_tombstones")),
        sa.UniqueConstraint("email_hash", name=op.f("uq_core_erasure_tombstones_email_hash")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_AUDIT_GUARD)
        op.execute(PG_AUDIT_TRIGGER)
    else:
        for statement in SQLITE_AUDIT_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS core_audit_log_append_only ON core_audit_log")
        op.execute("DROP FUNCTION IF EXISTS core_audit_log_guard()")
    else:
        op.execute("DROP TRIGGER IF EXISTS core_audit_log_no_delete")
        op.execute("DROP TRIGGER IF EXISTS core_audit_log_redact_only")
    for table in ("core_erasure_tombstones", "core_consents", "core_roles", "core_password_resets",
                  "core_login_failures", "core_sessions", "core_recovery_codes", "core_user_auth"):
        op.drop_table(table)
    with op.batch_alter_table("core_audit_log") as batch:
        batch.drop_column("redacted_at")
        batch.drop_column("changes_hash")
