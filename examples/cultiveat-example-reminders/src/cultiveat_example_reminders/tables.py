"""The plugin's table, on the core's shared ``MetaData`` (names start with ``reminders_``)."""

from __future__ import annotations

import sqlalchemy as sa

from cultiveat_core.db.metadata import UTCDateTime, metadata, utcnow

reminders = sa.Table(
    "reminders_reminders",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "contact_id",
        sa.Integer,
        sa.ForeignKey("core_contacts.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("due_at", UTCDateTime, nullable=False),
    sa.Column("note", sa.String(500), nullable=False),
    sa.Column("created_by", sa.Integer),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("sent_at", UTCDateTime),
    # the job's query: unsent reminders by due time
    sa.Index("ix_reminders_reminders_sent_at_due_at", "sent_at", "due_at"),
)
