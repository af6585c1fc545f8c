"""web: per-user dashboard layouts

Revision ID: web_0001
Revises:
Create Date: 2026-11-23 14:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cultiveat_core.db.metadata import JSONType, UTCDateTime

revision: str = "web_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("web",)
depends_on: str | Sequence[str] | None = "core_0001"


def upgrade() -> None:
    op.create_table(
        "web_dashboard_layouts",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("widgets", JSONType, nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["core_users.id"],
            ondelete="CASCADE",
            name="fk_web_dashboard_layouts_user_id_core_users",
        ),
        sa.PrimaryKeyConstraint("user_id", name="pk_web_dashboard_layouts"),
    )


def downgrade() -> None:
    op.drop_table("web_dashboard_layouts")
