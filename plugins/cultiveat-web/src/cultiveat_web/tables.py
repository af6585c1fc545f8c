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

# The import wizard keeps an uploaded file here between its steps (upload, mapping, dry run,
# import); the row is deleted once the real import has been queued or after a day.
import_uploads = sa.Table(
    "web_import_uploads",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "user_id", sa.Integer, sa.ForeignKey("core_users.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("filename", sa.String(300), nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("options", JSONType, nullable=False, default=dict),  # source, on_duplicate, mapping
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
)
