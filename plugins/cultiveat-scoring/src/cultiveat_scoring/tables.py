"""The scoring plugin's tables (``scoring_*``); scores reference core contacts by id."""

from __future__ import annotations

import sqlalchemy as sa

from cultiveat_core.db.metadata import JSONType, UTCDateTime, metadata, utcnow

rule_sets = sa.Table(
    "scoring_rule_sets",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("document", JSONType, nullable=False),
    sa.Column("comment", sa.String(500), nullable=False, server_default=""),
    sa.Column("created_by", sa.String(320), nullable=False, server_default=""),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
)

scores = sa.Table(
    "scoring_scores",
    metadata,
    sa.Column(
        "contact_id",
        sa.Integer,
        sa.ForeignKey("core_contacts.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("score", sa.Integer, nullable=False),
    sa.Column("fit", sa.Float, nullable=False),
    sa.Column("engagement", sa.Float, nullable=False),
    sa.Column("total", sa.Float, nullable=False),
    sa.Column("engagement_percent", sa.Integer, nullable=False),
    sa.Column("hot", sa.Boolean, nullable=False),
    sa.Column("band", sa.String(50), nullable=False),
    sa.Column("groups", JSONType, nullable=False, default=dict),
    sa.Column("rule_set_version", sa.Integer, nullable=False),
    sa.Column("computed_at", UTCDateTime, nullable=False),
    sa.Column("hot_since", UTCDateTime),
    sa.Column("probability", sa.Float),
    sa.Column("model_version", sa.Integer),
    sa.Index("ix_scoring_scores_score", "score"),
    sa.Index("ix_scoring_scores_hot", "hot", "score"),
)

# a run's new scores beside the stored score and hot flag, in a temporary table per connection
# (no WAL; PostgreSQL empties it at commit, the service does on SQLite); own MetaData so that
# migrations and create_all never see it
run_rows = sa.Table(
    "scoring_run",
    sa.MetaData(),
    sa.Column("contact_id", sa.Integer, nullable=False),
    sa.Column("score", sa.Integer, nullable=False),
    sa.Column("fit", sa.Float, nullable=False),
    sa.Column("engagement", sa.Float, nullable=False),
    sa.Column("total", sa.Float, nullable=False),
    sa.Column("engagement_percent", sa.Integer, nullable=False),
    sa.Column("hot", sa.Boolean, nullable=False),
    sa.Column("band", sa.String(50), nullable=False),
    sa.Column("groups", JSONType, nullable=False),
    sa.Column("old_score", sa.Integer),
    sa.Column("old_hot", sa.Boolean),
    # the stored row differs (values moved, rule set changed) or there is none: write it
    sa.Column("changed", sa.Boolean, nullable=False),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DELETE ROWS",
)

dirty = sa.Table(
    "scoring_dirty",
    metadata,
    sa.Column("contact_id", sa.Integer, primary_key=True),
    sa.Column("marked_at", UTCDateTime, nullable=False, default=utcnow),
)

history = sa.Table(
    "scoring_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "contact_id",
        sa.Integer,
        sa.ForeignKey("core_contacts.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("score", sa.Integer, nullable=False),
    sa.Column("fit", sa.Float, nullable=False),
    sa.Column("engagement", sa.Float, nullable=False),
    sa.Column("rule_set_version", sa.Integer, nullable=False),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
    sa.Index("ix_scoring_history_contact_recorded", "contact_id", "recorded_at"),
)

models = sa.Table(
    "scoring_models",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("card", JSONType, nullable=False),
    sa.Column("params", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
)
