"""The web plugin's own tables (prefix ``web_``): per-user dashboard arrangement."""

from __future__ import annotations

import sqlalchemy as sa

from cultiveat_core.db.metadata import JSONType, UTCDateTime, metadata, utcnow

dashboard_layouts = sa.Table(
    "web_dashboard_layouts",
    metadata,
    sa.Column(
        "user_id", sa.Integer, sa.ForeignKey("core_users.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("widgets", JSONType, nullable=False, default=list),  # widget names, in display order
    sa.Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
)
