"""Running Alembic for the core and every loaded plugin (``cultiveat db upgrade``).

Alembic is imported when a migration is run or checked, not when the CRM is built: most
commands and worker processes start faster without it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from cultiveat_core.settings import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
CORE_VERSIONS = MIGRATIONS_DIR / "versions"
VERSION_TABLE = "cultiveat_alembic_version"


def alembic_config(version_locations: Sequence[str | Path]) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    extra = [str(p) for p in version_locations if str(p) != str(CORE_VERSIONS)]
    cfg.set_main_option("version_locations", os.pathsep.join([str(CORE_VERSIONS), *extra]))
    return cfg


def script_directory(version_locations: Sequence[str | Path]) -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(version_locations))


@contextmanager
def _migration_connection(engine: sa.Engine) -> Iterator[sa.Connection]:
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        raw = conn.connection.dbapi_connection
        if sqlite and raw is not None:
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
            if sqlite and raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")


def upgrade(
    engine: sa.Engine,
    version_locations: Sequence[str | Path],
    target: str = "heads",
    settings: Settings | None = None,
) -> None:
    """Upgrade to ``target``. ``settings`` (the CRM's) reach data migrations that need keys as
    ``context.config.attributes["settings"]``; without them they read the environment."""
    from alembic import command

    cfg = alembic_config(version_locations)
    cfg.attributes["settings"] = settings
    script = script_directory(version_locations)
    with _migration_connection(engine) as conn:
        # Heads of a plugin that is no longer installed (or blocked) are unknown to Alembic and
        # would stop every upgrade ("Can't locate revision"). They are set aside for the run and
        # written back in the same transaction, so reinstalling the plugin finds its tables
        # where it left them.
        orphans = _unknown_heads(conn, script)
        version = sa.table(VERSION_TABLE, sa.column("version_num", sa.String))
        if orphans:
            conn.execute(version.delete().where(version.c.version_num.in_(orphans)))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, target)
        if orphans:
            conn.execute(version.insert(), [{"version_num": o} for o in orphans])


def expected_heads(version_locations: Sequence[str | Path]) -> set[str]:
    return set(script_directory(version_locations).get_heads())


def current_heads(engine: sa.Engine) -> set[str]:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return set(ctx.get_current_heads())


def pending(engine: sa.Engine, version_locations: Sequence[str | Path]) -> str | None:
    """None when the database is at every head; otherwise what is missing, in words.

    Revisions in the database that no loaded plugin knows (a plugin removed or blocked
    after its migrations ran) do not make the database unusable for the others: they are
    left out of the check.
    """
    script = script_directory(version_locations)
    expected = set(script.get_heads())
    current = current_heads(engine)
    if not current:
        return "no migrations applied"
    known = {c for c in current if _known(script, c)}
    applied: set[str] = set()
    for revision in known:
        applied.update(rev.revision for rev in script.iterate_revisions(revision, "base"))
    missing = sorted(expected - applied)
    if missing:
        return f"revisions not applied: {', '.join(missing)}"
    return None


def _unknown_heads(conn: sa.Connection, script: ScriptDirectory) -> list[str]:
    if not sa.inspect(conn).has_table(VERSION_TABLE):
        return []
    rows = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    return sorted(r for r in rows if not _known(script, r))


def _known(script: ScriptDirectory, revision: str) -> bool:
    from alembic.util import CommandError

    try:
        return script.get_revision(revision) is not None
    except CommandError:
        return False
