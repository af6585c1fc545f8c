"""Engines: SQLite (WAL, synchronous=FULL, foreign keys on) by default, PostgreSQL via psycopg 3."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from cultiveat_core.errors import ConfigurationError


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and use psycopg 3 for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy manage transactions (the pysqlite driver's own are unreliable).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # Writers (crm.transaction) take the write lock up front with IMMEDIATE, so two writers
    # never deadlock upgrading a read lock; readers use a plain deferred BEGIN under WAL.
    immediate = conn.info.pop("immediate", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_db_engine(url: str, **kwargs: Any) -> sa.Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.startswith("postgresql"):
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
        kwargs.setdefault("pool_pre_ping", True)
        return sa.create_engine(url, **kwargs)
    raise ConfigurationError(
        f"unsupported CULTIVEAT_DATABASE_URL {url!r}: use sqlite:///path or postgresql://..."
    )
