"""scoring: rule sets, scores, pending rows, dirty marks, history, models

Revision ID: scoring_0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cultiveat_core.db.metadata import JSONType, UTCDateTime

revision: str = "scoring_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("scoring",)
depends_on: str | Sequence[str] | None = "core_0001"


def upgrade() -> None:
    op.create_table(
        "scoring_rule_sets",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("document", JSONType, nullable=False),
        sa.Column("comment", sa.String(500), nullable=False, server_default=""),
        sa.Column("created_by", sa.String(320), nullable=False, server_default=""),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "scoring_scores",
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
        sa.Column("groups", JSONType, nullable=False),
        sa.Column("rule_set_version", sa.Integer, nullable=False),
        sa.Column("computed_at", UTCDateTime, nullable=False),
        sa.Column("hot_since", UTCDateTime),
        sa.Column("probability", sa.Float),
        sa.Column("model_version", sa.Integer),
    )
    op.create_index("ix_scoring_scores_score", "scoring_scores", ["score"])
    op.create_index("ix_scoring_scores_hot", "scoring_scores", ["hot", "score"])
    op.create_table(
        "scoring_pending",
        sa.Column("run_id", sa.String(36), primary_key=True),
        sa.Column("contact_id", sa.Integer, primary_key=True),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("fit", sa.Float, nullable=False),
        sa.Column("engagement", sa.Float, nullable=False),
        sa.Column("total", sa.Float, nullable=False),
        sa.Column("engagement_percent", sa.Integer, nullable=False),
        sa.Column("hot", sa.Boolean, nullable=False),
        sa.Column("band", sa.String(50), nullable=False),
        sa.Column("groups", JSONType, nullable=False),
    )
    op.create_table(
        "scoring_dirty",
        sa.Column("contact_id", sa.Integer, primary_key=True),
        sa.Column("marked_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "scoring_history",
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
    )
    op.create_index(
        "ix_scoring_history_contact_recorded", "scoring_history", ["contact_id", "recorded_at"]
    )
    op.create_table(
        "scoring_models",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("card", JSONType, nullable=False),
        sa.Column("params", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "scoring_models",
        "scoring_history",
        "scoring_dirty",
        "scoring_pending",
        "scoring_scores",
        "scoring_rule_sets",
    ):
        op.drop_table(table)
