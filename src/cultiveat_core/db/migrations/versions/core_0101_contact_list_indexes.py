"""contact list: (stage, created_at, id) index for the default sort under a stage filter

Revision ID: core_0101_list_indexes
Revises: core_0100_contacts_domain
"""
from collections.abc import Sequence

from alembic import op

revision: str = "core_0101_list_indexes"
down_revision: str | Sequence[str] | None = "core_0100_contacts_domain"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # seed 003's main view: one stage, newest first; without it a stage with many contacts
    # is read whole and sorted for every page
    op.create_index("ix_core_contacts_stage_created_id", "core_contacts", ["stage", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_core_contacts_stage_created_id", "core_contacts")
