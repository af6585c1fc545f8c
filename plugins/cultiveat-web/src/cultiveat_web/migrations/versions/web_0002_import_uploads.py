"""web: files kept between the import wizard's steps

Revision ID: web_0002
Revises: web_0001
Create Date: 2026-11-23 14:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cultiveat_core.db.metadata import JSONType, UTCDateTime

revision: str = "web_0002"
down_revision: str | Sequence[str] | None = "web_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "web_import_uploads",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=300), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("options", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["core_users.id"],
            ondelete="CASCADE",
            name="fk_web_import_uploads_user_id_core_users",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_web_import_uploads"),
    )


def downgrade() -> None:
    op.drop_table("web_import_uploads")
