"""contact list: indexes for the owner, type, channel and industry filters under the default sort

Revision ID: core_0102_list_filter_indexes
Revises: core_0101_list_indexes
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "core_0102_list_filter_indexes"
down_revision: str | Sequence[str] | None = "core_0101_list_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# type, channel and industry filter case-insensitively (lower(column) IN (...)), which a plain
# column index cannot serve: without these a rare value reads the whole table in created_at
# order. owner ("my contacts") walks its own contacts newest first instead of sorting them all.
LOWER_INDEXES = {
    "ix_core_contacts_type_lower_created": "type",
    "ix_core_contacts_channel_lower_created": "channel",
    "ix_core_contacts_industry_lower_created": "industry",
}


def upgrade() -> None:
    for name, column in LOWER_INDEXES.items():
        op.create_index(name, "core_contacts", [sa.text(f"lower({column})"), "created_at", "id"])
    op.create_index("ix_core_contacts_owner_created_id", "core_contacts", ["owner_id", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_core_contacts_owner_created_id", "core_contacts")
    for name in LOWER_INDEXES:
        op.drop_index(name, "core_contacts")
