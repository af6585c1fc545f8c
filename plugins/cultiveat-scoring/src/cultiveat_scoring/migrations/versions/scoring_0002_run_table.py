"""scoring: runs stage in a temporary table (drop scoring_pending); room for in-place updates

Revision ID: scoring_0002
Revises: scoring_0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cultiveat_core.db.metadata import JSONType

revision: str = "scoring_0002"
down_revision: str | Sequence[str] | None = "scoring_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # a scoring run now stages its rows in the temporary table scoring_run (no WAL, no index)
    op.drop_table("scoring_pending")
    if op.get_bind().dialect.name == "postgresql":
        # free space on each page lets a rescore update a row in place (a HOT update, no new
        # index entries) when its score, and so the indexed columns, did not change
        op.execute("ALTER TABLE scoring_scores SET (fillfactor = 80)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE scoring_scores RESET (fillfactor)")
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
