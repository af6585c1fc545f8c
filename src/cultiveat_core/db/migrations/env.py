"""Alembic environment shared by core and plugins: one MetaData, one branch per plugin."""

from alembic import context

import cultiveat_core.db.tables  # noqa: F401  (registers the core tables on the MetaData)
from cultiveat_core.db.metadata import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    version_table="cultiveat_alembic_version",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
