"""The core's tables. Services are the only writers; plugins read them, never write."""

from __future__ import annotations

import sqlalchemy as sa

from cultiveat_core.db.metadata import JSONType, UTCDateTime, metadata, utcnow

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
    sa.Column("phone", sa.String(32)),
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
    sa.Column("notes", sa.Text),
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
    sa.Index("ix_core_activities_type_occurred", "type", "occurred_at"),
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
