"""The plugin's tables (``segments_*``). Only this plugin writes them; others use ``api``."""

from __future__ import annotations

import sqlalchemy as sa

from cultiveat_core.db.metadata import JSONType, UTCDateTime, metadata, utcnow

segments = sa.Table(
    "segments_segments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(120), nullable=False, unique=True),
    sa.Column("description", sa.String(500), nullable=False, server_default=""),
    # dynamic: rule + manual overrides; static: manual members only; ml: model assignments
    sa.Column("kind", sa.String(20), nullable=False, server_default="dynamic"),
    sa.Column("definition", JSONType),
    sa.Column("is_template", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("model_run_id", sa.Integer),
    sa.Column("cluster", sa.Integer),
    sa.Column("member_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("refreshed_at", UTCDateTime),
    sa.Column("created_by", sa.Integer),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
)

members = sa.Table(
    "segments_members",
    metadata,
    sa.Column(
        "segment_id",
        sa.Integer,
        sa.ForeignKey("segments_segments.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "contact_id",
        sa.Integer,
        sa.ForeignKey("core_contacts.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
    sa.Column("added_at", UTCDateTime, nullable=False, default=utcnow),
)

# Manual overrides of a segment: "include" adds a contact whatever the rule says, "exclude"
# keeps one out. A static list is a segment with only includes.
overrides = sa.Table(
    "segments_overrides",
    metadata,
    sa.Column(
        "segment_id",
        sa.Integer,
        sa.ForeignKey("segments_segments.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "contact_id",
        sa.Integer,
        sa.ForeignKey("core_contacts.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
    sa.Column("mode", sa.String(10), nullable=False),
    sa.Column("created_by", sa.Integer),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
)

# Kept when a contact or segment is deleted (it is history); erasure removes a contact's rows.
history = sa.Table(
    "segments_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("segment_id", sa.Integer, nullable=False),
    sa.Column("contact_id", sa.Integer, nullable=False, index=True),
    sa.Column("change", sa.String(10), nullable=False),  # entered | left
    sa.Column("reason", sa.String(20), nullable=False),  # refresh | event | manual | model
    sa.Column("occurred_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Index("ix_segments_history_segment_occurred", "segment_id", "occurred_at"),
)

preferences = sa.Table(
    "segments_preferences",
    metadata,
    sa.Column(
        "contact_id",
        sa.Integer,
        sa.ForeignKey("core_contacts.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("interests", JSONType, nullable=False, default=list),
    sa.Column("preferred_channel", sa.String(30)),
    sa.Column("frequency", sa.String(30)),
    sa.Column("topics", JSONType, nullable=False, default=list),
    # which of the fields above a person set ("explicit") and which were inferred
    sa.Column("sources", JSONType, nullable=False, default=dict),
    sa.Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
)

model_runs = sa.Table(
    "segments_model_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),  # behaviour | preference
    sa.Column("status", sa.String(20), nullable=False),  # trained | failed
    sa.Column("k", sa.Integer),
    sa.Column("silhouette", sa.Float),
    sa.Column("stability", sa.Float),
    sa.Column("card", JSONType, nullable=False, default=dict),
    sa.Column("model", JSONType, nullable=False, default=dict),  # scaler + centroids to score with
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Index("ix_segments_model_runs_kind_id", "kind", "id"),
)

ml_assignments = sa.Table(
    "segments_ml_assignments",
    metadata,
    sa.Column(
        "segment_id",
        sa.Integer,
        sa.ForeignKey("segments_segments.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "contact_id",
        sa.Integer,
        sa.ForeignKey("core_contacts.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
)

snapshots = sa.Table(
    "segments_snapshots",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("segment_id", sa.Integer, nullable=False),
    sa.Column("taken_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("entered", sa.Integer, nullable=False),
    sa.Column("left", sa.Integer, nullable=False),
    sa.Column("stability", sa.Float),
    sa.Column("drift", JSONType, nullable=False, default=dict),
    sa.Column("drift_alert", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_segments_snapshots_segment_taken", "segment_id", "taken_at"),
)
