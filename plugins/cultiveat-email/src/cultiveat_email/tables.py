"""The email plugin's tables: the outbox, suppressed addresses and processed inbound mail."""

from __future__ import annotations

import sqlalchemy as sa

from cultiveat_core.db.metadata import JSONType, UTCDateTime, metadata, utcnow

# One row per (send key, contact): written BEFORE the SMTP transaction, so a retried or
# restarted job finds it and never sends the same message to the same contact twice.
messages = sa.Table(
    "email_messages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("send_key", sa.String(200), nullable=False),
    sa.Column("contact_id", sa.Integer, sa.ForeignKey("core_contacts.id", ondelete="SET NULL")),
    sa.Column("to_address", sa.String(320), nullable=False),
    sa.Column("subject", sa.String(998), nullable=False, server_default=""),
    sa.Column("message_id", sa.String(250), nullable=False, unique=True),
    # pending | sending | sent | deferred | failed | suppressed | unknown
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("smtp_code", sa.Integer),
    sa.Column("error", sa.String(1000)),
    sa.Column("meta", JSONType, nullable=False, default=dict),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("sent_at", UTCDateTime),
    sa.UniqueConstraint("send_key", "contact_id", name="uq_email_messages_send_key_contact"),
    sa.Index("ix_email_messages_contact_id", "contact_id"),
    sa.Index("ix_email_messages_to_address", "to_address"),
)

suppressions = sa.Table(
    "email_suppressions",
    metadata,
    sa.Column("address", sa.String(320), primary_key=True),  # lower-cased
    sa.Column("reason", sa.String(30), nullable=False),  # bounce | complaint | manual
    sa.Column("smtp_code", sa.Integer),
    sa.Column("detail", sa.String(1000)),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
)

inbound = sa.Table(
    "email_inbound",
    metadata,
    sa.Column("message_id", sa.String(250), primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),  # reply | bounce | ignored
    sa.Column("contact_id", sa.Integer, sa.ForeignKey("core_contacts.id", ondelete="SET NULL")),
    sa.Column("received_at", UTCDateTime, nullable=False, default=utcnow),
)
