"""email: outbox, suppressions, inbound

Revision ID: email_0001
Revises:
Create Date: 2026-11-23 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cultiveat_core.db.metadata import JSONType, UTCDateTime

revision: str = "email_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("email",)
depends_on: str | Sequence[str] | None = "core_0001"


def upgrade() -> None:
    op.create_table(
        "email_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("send_key", sa.String(200), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("to_address", sa.String(320), nullable=False),
        sa.Column("subject", sa.String(998), nullable=False, server_default=""),
        sa.Column("message_id", sa.String(250), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("smtp_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(1000), nullable=True),
        sa.Column("meta", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["core_contacts.id"],
            name=op.f("fk_email_messages_contact_id_core_contacts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_messages")),
        sa.UniqueConstraint("message_id", name=op.f("uq_email_messages_message_id")),
        sa.UniqueConstraint("send_key", "contact_id", name="uq_email_messages_send_key_contact"),
    )
    op.create_index("ix_email_messages_contact_id", "email_messages", ["contact_id"])
    op.create_index("ix_email_messages_to_address", "email_messages", ["to_address"])
    op.create_table(
        "email_suppressions",
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("reason", sa.String(30), nullable=False),
        sa.Column("smtp_code", sa.Integer(), nullable=True),
        sa.Column("detail", sa.String(1000), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_email_suppressions")),
    )
    op.create_table(
        "email_inbound",
        sa.Column("message_id", sa.String(250), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["core_contacts.id"],
            name=op.f("fk_email_inbound_contact_id_core_contacts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_email_inbound")),
    )


def downgrade() -> None:
    op.drop_table("email_inbound")
    op.drop_table("email_suppressions")
    op.drop_index("ix_email_messages_to_address", table_name="email_messages")
    op.drop_index("ix_email_messages_contact_id", table_name="email_messages")
    op.drop_table("email_messages")
