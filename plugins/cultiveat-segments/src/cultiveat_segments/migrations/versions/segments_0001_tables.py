"""segments tables and seed 003's segment templates

Revision ID: segments_0001
Revises:
Create Date: 2026-11-23 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cultiveat_core.db.metadata import JSONType, UTCDateTime, utcnow

revision: str = "segments_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("segments",)
depends_on: str | Sequence[str] | None = "core_0001"

# Seed 003 "Segment Examples": present, editable and deletable on a new installation.
TEMPLATES = [
    {
        "name": "High Value Prospects",
        "description": "Score > 80 AND Company Size > 100",
        "definition": {
            "all": [
                {"field": "score", "op": ">", "value": 80},
                {"field": "company_size", "op": ">", "value": 100},
            ]
        },
    },
    {
        "name": "Product Champions",
        "description": "Engagement > 70% AND Demo Requested",
        "definition": {
            "all": [
                {"field": "engagement_percent", "op": ">", "value": 70},
                {"activity": "demo_requested"},
            ]
        },
    },
    {
        "name": "Enterprise Leads",
        "description": "Company Size > 1000 AND Position = C-Level",
        "definition": {
            "all": [
                {"field": "company_size", "op": ">", "value": 1000},
                {"field": "position", "op": "is_c_level"},
            ]
        },
    },
]


def upgrade() -> None:
    segments = op.create_table(
        "segments_segments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("description", sa.String(500), server_default="", nullable=False),
        sa.Column("kind", sa.String(20), server_default="dynamic", nullable=False),
        sa.Column("definition", JSONType, nullable=True),
        sa.Column("is_template", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("model_run_id", sa.Integer(), nullable=True),
        sa.Column("cluster", sa.Integer(), nullable=True),
        sa.Column("member_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("refreshed_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segments_segments")),
        sa.UniqueConstraint("name", name=op.f("uq_segments_segments_name")),
    )
    for table, extra in (
        ("segments_members", [sa.Column("added_at", UTCDateTime(timezone=True), nullable=False)]),
        (
            "segments_overrides",
            [
                sa.Column("mode", sa.String(10), nullable=False),
                sa.Column("created_by", sa.Integer(), nullable=True),
                sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
            ],
        ),
        ("segments_ml_assignments", []),
    ):
        op.create_table(
            table,
            sa.Column("segment_id", sa.Integer(), nullable=False),
            sa.Column("contact_id", sa.Integer(), nullable=False),
            *extra,
            sa.ForeignKeyConstraint(
                ["segment_id"],
                ["segments_segments.id"],
                ondelete="CASCADE",
                name=op.f(f"fk_{table}_segment_id_segments_segments"),
            ),
            sa.ForeignKeyConstraint(
                ["contact_id"],
                ["core_contacts.id"],
                ondelete="CASCADE",
                name=op.f(f"fk_{table}_contact_id_core_contacts"),
            ),
            sa.PrimaryKeyConstraint("segment_id", "contact_id", name=op.f(f"pk_{table}")),
        )
        op.create_index(op.f(f"ix_{table}_contact_id"), table, ["contact_id"])
    op.create_table(
        "segments_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("change", sa.String(10), nullable=False),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("occurred_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segments_history")),
    )
    op.create_index(op.f("ix_segments_history_contact_id"), "segments_history", ["contact_id"])
    op.create_index(
        "ix_segments_history_segment_occurred", "segments_history", ["segment_id", "occurred_at"]
    )
    op.create_table(
        "segments_preferences",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("interests", JSONType, nullable=False),
        sa.Column("preferred_channel", sa.String(30), nullable=True),
        sa.Column("frequency", sa.String(30), nullable=True),
        sa.Column("topics", JSONType, nullable=False),
        sa.Column("sources", JSONType, nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["core_contacts.id"],
            ondelete="CASCADE",
            name=op.f("fk_segments_preferences_contact_id_core_contacts"),
        ),
        sa.PrimaryKeyConstraint("contact_id", name=op.f("pk_segments_preferences")),
    )
    op.create_table(
        "segments_model_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("k", sa.Integer(), nullable=True),
        sa.Column("silhouette", sa.Float(), nullable=True),
        sa.Column("stability", sa.Float(), nullable=True),
        sa.Column("card", JSONType, nullable=False),
        sa.Column("model", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segments_model_runs")),
    )
    op.create_index("ix_segments_model_runs_kind_id", "segments_model_runs", ["kind", "id"])
    op.create_table(
        "segments_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("taken_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("entered", sa.Integer(), nullable=False),
        sa.Column("left", sa.Integer(), nullable=False),
        sa.Column("stability", sa.Float(), nullable=True),
        sa.Column("drift", JSONType, nullable=False),
        sa.Column("drift_alert", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segments_snapshots")),
    )
    op.create_index(
        "ix_segments_snapshots_segment_taken", "segments_snapshots", ["segment_id", "taken_at"]
    )
    now = utcnow()
    op.bulk_insert(
        segments,
        [
            {
                **t,
                "kind": "dynamic",
                "is_template": True,
                "member_count": 0,
                "created_at": now,
                "updated_at": now,
            }
            for t in TEMPLATES
        ],
    )


def downgrade() -> None:
    for table in (
        "segments_snapshots",
        "segments_model_runs",
        "segments_preferences",
        "segments_history",
        "segments_ml_assignments",
        "segments_overrides",
        "segments_members",
        "segments_segments",
    ):
        op.drop_table(table)
