"""activities: (type, occurred_at, contact_id) replaces (type, occurred_at)

Revision ID: core_0104_activity_type_covering
Revises: core_0103_stage_counts
"""
from collections.abc import Sequence

from alembic import op

revision: str = "core_0104_activity_type_covering"
down_revision: str | Sequence[str] | None = "core_0103_stage_counts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Segment and scoring conditions ask "which contacts did X in the last N days": with the contact
# id in the index, PostgreSQL answers from the index alone (an index-only scan of a few hundred
# pages instead of ~32,000 heap pages at 5,000,000 activities) and SQLite reads no table rows.
# The old index is a prefix of the new one, so nothing it served is lost.


def upgrade() -> None:
    op.create_index(
        "ix_core_activities_type_occurred_contact", "core_activities", ["type", "occurred_at", "contact_id"]
    )
    op.drop_index("ix_core_activities_type_occurred", "core_activities")


def downgrade() -> None:
    op.create_index("ix_core_activities_type_occurred", "core_activities", ["type", "occurred_at"])
    op.drop_index("ix_core_activities_type_occurred_contact", "core_activities")
