"""Backups: SQLite through its online backup API, PostgreSQL through pg_dump/pg_restore.

A backup writes the data file and a manifest (``<file>.json``: row count per table, taken
in the same snapshot as the dump, and the file's SHA-256). ``verify`` restores the file into
a scratch database (a temporary SQLite file, or a temporary PostgreSQL database) and
compares every table's row count with the manifest.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from cultiveat_core.db.metadata import utcnow
from cultiveat_core.errors import ConfigurationError, ValidationError


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _counts(conn: sa.Connection) -> dict[str, int]:
    names = sorted(sa.inspect(conn).get_table_names())
    return {
        name: int(conn.execute(sa.text(f'SELECT count(*) FROM "{name}"')).scalar() or 0)
        for name in names
    }


def _libpq(url: sa.URL) -> str:
    return str(url.set(drivername="postgresql").render_as_string(hide_password=False))


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise ConfigurationError(f"{name} is not installed; install the PostgreSQL client tools")
    return found


def _sqlite_path(url: sa.URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise ValidationError.field(
            "database_url", "an in-memory SQLite database cannot be backed up"
        )
    return Path(url.database)


def manifest_path(target: Path) -> Path:
    return target.with_name(target.name + ".json")


def backup(engine: sa.Engine, target: Path) -> dict[str, Any]:
    """Write a consistent backup of the database to ``target`` and its manifest."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    url = engine.url
    if url.get_backend_name() == "sqlite":
        source = sqlite3.connect(_sqlite_path(url))
        dest = sqlite3.connect(target)
        try:
            source.backup(dest)
        finally:
            dest.close()
            source.close()
        check = sa.create_engine(f"sqlite:///{target}")
        with check.connect() as conn:
            counts = _counts(conn)
        check.dispose()
    elif url.get_backend_name() == "postgresql":
        with (
            engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn,
            conn.begin(),
        ):
            snapshot = conn.execute(sa.text("SELECT pg_export_snapshot()")).scalar()
            counts = _counts(conn)
            subprocess.run(  # noqa: S603 - fixed tool, arguments from settings
                [
                    _tool("pg_dump"),
                    "--format=custom",
                    f"--snapshot={snapshot}",
                    "--no-owner",
                    f"--file={target}",
                    f"--dbname={_libpq(url)}",
                ],
                check=True,
                capture_output=True,
            )
    else:
        raise ValidationError.field("database_url", f"cannot back up {url.get_backend_name()}")
    manifest = {
        "dialect": url.get_backend_name(),
        "created_at": utcnow().isoformat(),
        "sha256": _sha256(target),
        "tables": counts,
    }
    manifest_path(target).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest


def _read_manifest(source: Path) -> dict[str, Any]:
    path = manifest_path(source)
    if not path.exists():
        raise ValidationError.field("file", f"{path} is missing; it is written next to each backup")
    manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if _sha256(source) != manifest["sha256"]:
        raise ValidationError.field(
            "file", f"{source} does not match its manifest (corrupt or altered)"
        )
    return manifest


def verify(engine: sa.Engine, source: Path) -> dict[str, Any]:
    """Restore ``source`` into a scratch database and compare row counts with the manifest."""
    source = Path(source)
    manifest = _read_manifest(source)
    if manifest["dialect"] == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            scratch = Path(tmp) / "verify.db"
            _sqlite_copy(source, scratch)
            check = sa.create_engine(f"sqlite:///{scratch}")
            with check.connect() as conn:
                restored = _counts(conn)
            check.dispose()
    else:
        name = f"cultiveat_verify_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(engine.url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            scratch_url = engine.url.set(database=name)
            _pg_restore(scratch_url, source, clean=False)
            check = sa.create_engine(scratch_url)
            with check.connect() as conn:
                restored = _counts(conn)
            check.dispose()
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()
    expected = manifest["tables"]
    differences = {
        t: {"expected": expected.get(t), "restored": restored.get(t)}
        for t in sorted(set(expected) | set(restored))
        if expected.get(t) != restored.get(t)
    }
    return {
        "ok": not differences,
        "tables": len(expected),
        "rows": sum(expected.values()),
        "differences": differences,
    }


def _sqlite_copy(source: Path, target: Path) -> None:
    src = sqlite3.connect(source)
    dest = sqlite3.connect(target)
    try:
        src.backup(dest)
    finally:
        dest.close()
        src.close()


def _pg_restore(url: sa.URL, source: Path, *, clean: bool) -> None:
    args = [_tool("pg_restore"), "--no-owner", "--exit-on-error", f"--dbname={_libpq(url)}"]
    if clean:
        args[1:1] = ["--clean", "--if-exists", "--single-transaction"]
    result = subprocess.run([*args, str(source)], capture_output=True, text=True)  # noqa: S603
    if result.returncode != 0:
        raise ConfigurationError(f"pg_restore failed: {result.stderr.strip()[:500]}")


def restore(engine: sa.Engine, source: Path) -> dict[str, Any]:
    """Replace the database's content with the backup (checked against its manifest first)."""
    source = Path(source)
    manifest = _read_manifest(source)
    backend = engine.url.get_backend_name()
    if manifest["dialect"] != backend:
        raise ValidationError.field(
            "file", f"a {manifest['dialect']} backup cannot go into {backend}"
        )
    engine.dispose()
    if backend == "sqlite":
        _sqlite_copy(source, _sqlite_path(engine.url))
    else:
        _pg_restore(engine.url, source, clean=True)
    with engine.connect() as conn:
        counts = _counts(conn)
    return {"ok": counts == manifest["tables"], "tables": len(counts), "rows": sum(counts.values())}
