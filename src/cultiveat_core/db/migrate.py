"""Running Alembic for the core and every loaded plugin (``cultiveat db upgrade``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
CORE_VERSIONS = MIGRATIONS_DIR / "versions"
VERSION_TABLE = "cultiveat_alembic_version"


def alembic_config(version_locations: Sequence[str | Path]) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    locations = [str(CORE_VERSIONS), *(str(p) for p in version_locations if str(p) != str(CORE_VERSIONS))]
    cfg.set_main_option("version_locations", __import__("os").pathsep.join(locations))
    return cfg


@contextmanager
def _migration_connection(engine: sa.Engine) -> Iterator[sa.Connection]:
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        raw = conn.connection.dbapi_connection
        if sqlite:
            # Table rebuilds in batch mode must not cascade deletes through foreign keys; the
            # pragma only works outside a transaction, so it goes to the raw connection.
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                yield conn
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"migration broke foreign keys: {broken[:5]}")
        finally:
            if sqlite:
                raw.execute("PRAGMA foreign_keys=ON")


def upgrade(engine: sa.Engine, version_locations: Sequence[str | Path], target: str = "heads") -> None:
    cfg = alembic_config(version_locations)
    with _migration_connection(engine) as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, target)


def expected_heads(version_locations: Sequence[str | Path]) -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config(version_locations)).get_heads())


def current_heads(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return set(ctx.get_current_heads())


def pending(engine: sa.Engine, version_locations: Sequence[str | Path]) -> str | None:
    """None when the database is at every head; otherwise what is missing, in words."""
    expected = expected_heads(version_locations)
    current = current_heads(engine)
    if not current:
        return "no migrations applied"
    script = ScriptDirectory.from_config(alembic_config(version_locations))
    missing = []
    for head in sorted(expected - current):
        # a head is satisfied when the database is at it (or at a later revision of a branch)
        ancestors = {rev.revision for c in current for rev in script.iterate_revisions(c, "base")}
        if head not in ancestors:
            missing.append(head)
    if missing:
        return f"revisions not applied: {', '.join(missing)}"
    return None
