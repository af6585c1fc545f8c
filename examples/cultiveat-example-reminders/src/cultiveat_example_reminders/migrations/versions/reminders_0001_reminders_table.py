"""reminders table

Revision ID: reminders_0001
Revises:
Create Date: 2026-11-23 15:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cultiveat_core.db.metadata import UTCDateTime

revision: str = "reminders_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("reminders",)
depends_on: str | Sequence[str] | None = "core_0001"


def upgrade() -> None:
    op.create_table(
        "reminders_reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("due_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["core_contacts.id"],
            name=op.f("fk_reminders_reminders_contact_id_core_contacts"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminders_reminders")),
    )
    op.create_index(op.f("ix_reminders_reminders_contact_id"), "reminders_reminders", ["contact_id"])
    op.create_index("ix_reminders_reminders_sent_at_due_at", "reminders_reminders", ["sent_at", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_reminders_reminders_sent_at_due_at", table_name="reminders_reminders")
    op.drop_index(op.f("ix_reminders_reminders_contact_id"), table_name="reminders_reminders")
    op.drop_table("reminders_reminders")
