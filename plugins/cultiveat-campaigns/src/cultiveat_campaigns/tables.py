"""The campaigns plugin's tables."""

from __future__ import annotations

import sqlalchemy as sa

from cultiveat_core.db.metadata import JSONType, UTCDateTime, metadata, utcnow

templates = sa.Table(
    "campaigns_templates",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("category", sa.String(50), nullable=False, server_default="Marketing"),
    sa.Column("subject", sa.String(500), nullable=False),
    sa.Column("body_html", sa.Text, nullable=False, server_default=""),
    sa.Column("body_text", sa.Text, nullable=False, server_default=""),
    sa.Column("fallbacks", JSONType, nullable=False, default=dict),
    sa.Column("created_by", sa.Integer),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
)

campaigns = sa.Table(
    "campaigns_campaigns",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("type", sa.String(50), nullable=False, server_default="Email Campaign"),
    sa.Column("channel", sa.String(50), nullable=False, server_default="email"),
    sa.Column("template_id", sa.Integer, sa.ForeignKey("campaigns_templates.id"), nullable=False),
    sa.Column("audience", JSONType, nullable=False, default=dict),
    # Draft | Scheduled | Active | Paused | Completed
    sa.Column("status", sa.String(20), nullable=False, server_default="Draft"),
    sa.Column("schedule_at", UTCDateTime),
    sa.Column("start_date", sa.Date),
    sa.Column("end_date", sa.Date),
    sa.Column("capacity", sa.Integer),
    sa.Column("cost", sa.Float, nullable=False, server_default="0"),
    sa.Column("note", sa.String(500)),
    sa.Column("created_by", sa.Integer),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("started_at", UTCDateTime),
    sa.Column("prepared_at", UTCDateTime),  # every audience member has a recipient row
    sa.Column("completed_at", UTCDateTime),
)

recipients = sa.Table(
    "campaigns_recipients",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "campaign_id",
        sa.Integer,
        sa.ForeignKey("campaigns_campaigns.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column(
        "contact_id",
        sa.Integer,
        sa.ForeignKey("core_contacts.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # queued | excluded | sent | deferred | failed | unknown (send outcome); tracking: *_at
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("message_id", sa.String(250)),
    sa.Column("error", sa.String(500)),
    sa.Column("sent_at", UTCDateTime),
    sa.Column("delivered_at", UTCDateTime),
    sa.Column("opened_at", UTCDateTime),
    sa.Column("clicked_at", UTCDateTime),
    sa.Column("bounced_at", UTCDateTime),
    sa.Column("unsubscribed_at", UTCDateTime),
    sa.Column("replied_at", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    sa.UniqueConstraint(
        "campaign_id", "contact_id", name="uq_campaigns_recipients_campaign_contact"
    ),
    sa.Index("ix_campaigns_recipients_campaign_status", "campaign_id", "status"),
    sa.Index("ix_campaigns_recipients_contact_id", "contact_id"),
)

sequences = sa.Table(
    "campaigns_sequences",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("channel", sa.String(50), nullable=False, server_default="email"),
    sa.Column("status", sa.String(20), nullable=False, server_default="Active"),
    sa.Column("exit_on", JSONType, nullable=False, default=list),
    sa.Column("created_by", sa.Integer),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
)

steps = sa.Table(
    "campaigns_sequence_steps",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "sequence_id",
        sa.Integer,
        sa.ForeignKey("campaigns_sequences.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("template_id", sa.Integer, sa.ForeignKey("campaigns_templates.id"), nullable=False),
    sa.Column("delay_seconds", sa.Integer, nullable=False, server_default="0"),
    sa.Column("condition", JSONType),
    sa.UniqueConstraint("sequence_id", "position", name="uq_campaigns_sequence_steps_position"),
)

enrolments = sa.Table(
    "campaigns_enrolments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "sequence_id",
        sa.Integer,
        sa.ForeignKey("campaigns_sequences.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column(
        "contact_id",
        sa.Integer,
        sa.ForeignKey("core_contacts.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("status", sa.String(20), nullable=False),  # active | completed | exited
    sa.Column("step", sa.Integer, nullable=False, server_default="0"),  # next position to run
    sa.Column("next_run_at", UTCDateTime),
    sa.Column("enrolled_at", UTCDateTime, nullable=False),
    sa.Column("exit_reason", sa.String(100)),
    sa.UniqueConstraint(
        "sequence_id", "contact_id", name="uq_campaigns_enrolments_sequence_contact"
    ),
    sa.Index("ix_campaigns_enrolments_due", "status", "next_run_at"),
)

previews = sa.Table(
    "campaigns_previews",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "template_id",
        sa.Integer,
        sa.ForeignKey("campaigns_templates.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column(
        "contact_id",
        sa.Integer,
        sa.ForeignKey("core_contacts.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("actor_id", sa.Integer),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Index("ix_campaigns_previews_lookup", "template_id", "contact_id", "actor_id"),
)
