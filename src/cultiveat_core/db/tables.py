"""The core's tables. Services are the only writers; plugins read them, never write."""

from __future__ import annotations

import sqlalchemy as sa

from cultiveat_core.db.metadata import EncryptedText, JSONType, UTCDateTime, metadata, utcnow

users = sa.Table(
    "core_users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Column("role", sa.String(50), nullable=False),
    sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("password_hash", sa.String(300)),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("updated_at", UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow),
)

api_tokens = sa.Table(
    "core_api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("core_users.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("scopes", JSONType, nullable=False, default=list),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("expires_at", UTCDateTime),
    sa.Column("last_used_at", UTCDateTime),
    sa.Column("revoked_at", UTCDateTime),
)

companies = sa.Table(
    "core_companies",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("name_key", sa.String(200), nullable=False, unique=True),
    sa.Column("domain", sa.String(255)),
    sa.Column("industry", sa.String(100)),
    sa.Column("size", sa.Integer),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
)

contacts = sa.Table(
    "core_contacts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("email_key", sa.String(320), nullable=False, unique=True),
    sa.Column("first_name", sa.String(100), nullable=False),
    sa.Column("last_name", sa.String(100), nullable=False),
    # phone and notes are encrypted at rest when CULTIVEAT_FIELD_ENCRYPTION_KEYS is set
    # (privacy/encryption.py); phone_key is their blind index for equality lookups
    sa.Column("phone", EncryptedText(255)),
    sa.Column("phone_key", sa.String(64), index=True),
    sa.Column("position", sa.String(200)),
    sa.Column("company", sa.String(200)),
    sa.Column("company_id", sa.Integer, sa.ForeignKey("core_companies.id", ondelete="SET NULL"), index=True),
    sa.Column("industry", sa.String(100)),
    sa.Column("company_size", sa.Integer),
    sa.Column("stage", sa.String(50)),
    sa.Column("type", sa.String(50)),
    sa.Column("channel", sa.String(50)),
    sa.Column("owner_id", sa.Integer, sa.ForeignKey("core_users.id", ondelete="SET NULL"), index=True),
    sa.Column("address_street", sa.String(200)),
    sa.Column("address_city", sa.String(100)),
    sa.Column("address_state", sa.String(100)),
    sa.Column("address_zip", sa.String(20)),
    sa.Column("address_country", sa.String(2)),
    sa.Column("social", JSONType, nullable=False, default=dict),
    sa.Column("custom", JSONType, nullable=False, default=dict),
    sa.Column("notes", EncryptedText()),
    sa.Column("version", sa.Integer, nullable=False, default=1),
    sa.Column("created_by", sa.Integer, sa.ForeignKey("core_users.id", ondelete="SET NULL")),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow, index=True),
    sa.Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("last_activity_at", UTCDateTime, index=True),
    sa.Index("ix_core_contacts_stage_id", "stage", "id"),
    sa.Index("ix_core_contacts_last_name_id", "last_name", "id"),
)

tags = sa.Table(
    "core_tags",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(30), nullable=False),
    sa.Column("name_key", sa.String(30), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
)

contact_tags = sa.Table(
    "core_contact_tags",
    metadata,
    sa.Column("contact_id", sa.Integer, sa.ForeignKey("core_contacts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("tag_id", sa.Integer, sa.ForeignKey("core_tags.id", ondelete="CASCADE"), primary_key=True, index=True),
    sa.Column("source", sa.String(20), nullable=False, server_default="manual"),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
)

activities = sa.Table(
    "core_activities",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("contact_id", sa.Integer, sa.ForeignKey("core_contacts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("occurred_at", UTCDateTime, nullable=False),
    sa.Column("data", JSONType, nullable=False, default=dict),
    sa.Column("actor_id", sa.Integer, sa.ForeignKey("core_users.id", ondelete="SET NULL")),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Index("ix_core_activities_contact_occurred", "contact_id", "occurred_at"),
    # (core_0104) with contact_id: "who did X since T" is answered from the index alone
    sa.Index("ix_core_activities_type_occurred_contact", "type", "occurred_at", "contact_id"),
)

audit_log = sa.Table(
    "core_audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("occurred_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("actor_id", sa.Integer),
    sa.Column("actor", sa.String(320), nullable=False),
    sa.Column("action", sa.String(100), nullable=False),
    sa.Column("object_type", sa.String(100), nullable=False),
    sa.Column("object_id", sa.String(100)),
    sa.Column("changes", JSONType, nullable=False, default=dict),
    sa.Column("request_id", sa.String(64)),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    # identity (core_0200): the chain hashes changes_hash, so erasure may redact ``changes``
    sa.Column("changes_hash", sa.String(64)),
    sa.Column("redacted_at", UTCDateTime),
    sa.Index("ix_core_audit_log_object", "object_type", "object_id"),
)

jobs = sa.Table(
    "core_jobs",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("payload", JSONType, nullable=False, default=dict),
    sa.Column("status", sa.String(20), nullable=False),  # queued|running|done|failed
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("run_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("locked_until", UTCDateTime),
    sa.Column("dispatched_at", UTCDateTime),
    sa.Column("progress_done", sa.Integer),
    sa.Column("progress_total", sa.Integer),
    sa.Column("progress_message", sa.String(500)),
    sa.Column("result", JSONType),
    sa.Column("error", sa.Text),
    sa.Column("created_by", sa.Integer),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Index("ix_core_jobs_status_run_at", "status", "run_at"),
)

schedules = sa.Table(
    "core_schedules",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("last_run_at", UTCDateTime),
)


# -- identity, sessions, roles, consent and privacy (migration core_0200) ---------------------

user_auth = sa.Table(
    "core_user_auth",
    metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("core_users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("password_changed_at", UTCDateTime),
    sa.Column("totp_secret", sa.String(500)),  # encrypted when field encryption keys are set
    sa.Column("totp_pending_secret", sa.String(500)),
    sa.Column("totp_enabled_at", UTCDateTime),
    sa.Column("totp_last_step", sa.BigInteger, nullable=False, server_default="0"),
)

recovery_codes = sa.Table(
    "core_recovery_codes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("core_users.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("code_hash", sa.String(64), nullable=False),
    sa.Column("used_at", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
)

sessions = sa.Table(
    "core_sessions",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),  # SHA-256 of the cookie value
    sa.Column("user_id", sa.Integer, sa.ForeignKey("core_users.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("mfa_passed", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("ip", sa.String(64)),
    sa.Column("user_agent", sa.String(300)),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("last_seen_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime),
)

login_failures = sa.Table(
    "core_login_failures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email_key", sa.String(320), nullable=False),
    sa.Column("ip", sa.String(64)),
    sa.Column("occurred_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Index("ix_core_login_failures_email_occurred", "email_key", "occurred_at"),
    sa.Index("ix_core_login_failures_ip_occurred", "ip", "occurred_at"),
)

password_resets = sa.Table(
    "core_password_resets",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("core_users.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("used_at", UTCDateTime),
)

roles = sa.Table(
    "core_roles",
    metadata,
    sa.Column("name", sa.String(50), primary_key=True),
    sa.Column("description", sa.String(300), nullable=False, server_default=""),
    sa.Column("permissions", JSONType, nullable=False, default=list),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
)

consents = sa.Table(
    "core_consents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("contact_id", sa.Integer, sa.ForeignKey("core_contacts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("purpose", sa.String(50), nullable=False),
    sa.Column("granted", sa.Boolean, nullable=False),
    sa.Column("source", sa.String(200), nullable=False),
    sa.Column("actor_id", sa.Integer),
    sa.Column("recorded_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Index("ix_core_consents_contact_purpose_id", "contact_id", "purpose", "id"),
)

erasure_tombstones = sa.Table(
    "core_erasure_tombstones",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email_hash", sa.String(64), nullable=False, unique=True),  # HMAC of the email key
    sa.Column("reason", sa.String(50), nullable=False),
    sa.Column("erased_at", UTCDateTime, nullable=False, default=utcnow),
)

# -- contacts domain (issue 4): search, counters, custom fields, notes history, merges, imports --

# ``search_doc`` (name, email, company, position and tag names in one text, lower-cased on
# PostgreSQL) backs free-text search: a pg_trgm GIN index on PostgreSQL, an FTS5 trigram table
# on SQLite. Only ``services.search.refresh_search_docs`` writes it, set-based.
contacts.append_column(sa.Column("search_doc", sa.Text))
sa.Index("ix_core_contacts_company_name_id", contacts.c.company, contacts.c.id)
sa.Index("ix_core_contacts_type_id", contacts.c.type, contacts.c.id)
sa.Index("ix_core_contacts_channel_id", contacts.c.channel, contacts.c.id)
sa.Index("ix_core_contacts_industry_id", contacts.c.industry, contacts.c.id)
sa.Index("ix_core_contacts_size_id", contacts.c.company_size, contacts.c.id)
sa.Index("ix_core_contacts_created_id", contacts.c.created_at, contacts.c.id)
sa.Index("ix_core_contacts_activity_id", contacts.c.last_activity_at, contacts.c.id)

# Contacts created per month, kept by database triggers (KPIs read this, never count rows).
contact_counts = sa.Table(
    "core_contact_counts",
    metadata,
    sa.Column("month", sa.String(7), primary_key=True),  # YYYY-MM (UTC)
    sa.Column("total", sa.Integer, nullable=False, server_default="0"),
)

# Contacts per stage, kept by database triggers (core_0103; the hot-leads KPI reads this).
contact_stage_counts = sa.Table(
    "core_contact_stage_counts",
    metadata,
    sa.Column("stage", sa.String(50), primary_key=True),
    sa.Column("total", sa.Integer, nullable=False, server_default="0"),
)

custom_fields = sa.Table(
    "core_custom_fields",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("type", sa.String(20), nullable=False),  # text|number|date|bool|choice
    sa.Column("choices", JSONType, nullable=False, default=list),
    sa.Column("required", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("plugin", sa.String(100)),  # who declared it (None: an admin)
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
)

# Every edit of an activity (notes): the data before the edit, who changed it and when.
activity_revisions = sa.Table(
    "core_activity_revisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("activity_id", sa.Integer, sa.ForeignKey("core_activities.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("data", JSONType, nullable=False, default=dict),
    sa.Column("edited_by", sa.Integer, sa.ForeignKey("core_users.id", ondelete="SET NULL")),
    sa.Column("edited_at", UTCDateTime, nullable=False, default=utcnow),
)

# What a merge folded into what: the merged contact's last state and what moved.
contact_merges = sa.Table(
    "core_contact_merges",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kept_id", sa.Integer, nullable=False, index=True),
    sa.Column("merged_id", sa.Integer, nullable=False),
    sa.Column("merged_snapshot", JSONType, nullable=False, default=dict),
    sa.Column("moved", JSONType, nullable=False, default=dict),
    sa.Column("merged_by", sa.Integer, sa.ForeignKey("core_users.id", ondelete="SET NULL")),
    sa.Column("merged_at", UTCDateTime, nullable=False, default=utcnow),
)

imports = sa.Table(
    "core_imports",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("job_id", sa.String(36)),
    sa.Column("status", sa.String(20), nullable=False),  # queued|running|done|failed
    sa.Column("filename", sa.String(300), nullable=False, server_default=""),
    sa.Column("size", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("options", JSONType, nullable=False, default=dict),  # source, mapping, on_duplicate, dry_run
    sa.Column("source", sa.String(30)),  # the detected vendor
    sa.Column("rows_done", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created", sa.Integer, nullable=False, server_default="0"),
    sa.Column("updated", sa.Integer, nullable=False, server_default="0"),
    sa.Column("skipped", sa.Integer, nullable=False, server_default="0"),
    sa.Column("errors", JSONType, nullable=False, default=list),
    sa.Column("error_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("failure", sa.Text),
    sa.Column("created_by", sa.Integer, sa.ForeignKey("core_users.id", ondelete="SET NULL")),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
)

# An uploaded import file, stored in chunks so any worker can stream it back.
import_chunks = sa.Table(
    "core_import_chunks",
    metadata,
    sa.Column("import_id", sa.String(36), sa.ForeignKey("core_imports.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
)
sa.Index("ix_core_contacts_stage_created_id", contacts.c.stage, contacts.c.created_at, contacts.c.id)
# case-insensitive filters (lower(column) IN ...) and "my contacts", newest first (core_0102)
sa.Index("ix_core_contacts_type_lower_created", sa.func.lower(contacts.c.type), contacts.c.created_at, contacts.c.id)
sa.Index(
    "ix_core_contacts_channel_lower_created", sa.func.lower(contacts.c.channel), contacts.c.created_at, contacts.c.id
)
sa.Index(
    "ix_core_contacts_industry_lower_created", sa.func.lower(contacts.c.industry), contacts.c.created_at, contacts.c.id
)
sa.Index("ix_core_contacts_owner_created_id", contacts.c.owner_id, contacts.c.created_at, contacts.c.id)
