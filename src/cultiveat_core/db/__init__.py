"""Storage: one ``MetaData`` shared by core and plugins, engines, core tables, migrations."""

from cultiveat_core.db.engine import create_db_engine
from cultiveat_core.db.metadata import metadata, utcnow

__all__ = ["create_db_engine", "metadata", "utcnow"]
