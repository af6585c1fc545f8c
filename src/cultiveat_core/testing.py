"""pytest plugin for Cultiveat and its plugin authors (registered through ``pytest11``).

Fixtures: ``make_crm(plugins=[...], load_entrypoints=False, **settings)``, ``crm`` (no plugins
but the core; override it in your conftest to add yours), ``app``, ``client`` (an admin's API
token), ``client_for(role)``, ``run_jobs()`` and ``cultiveat_backend`` ("sqlite" or
"postgresql"). Every CRM gets its own fresh, migrated database: a SQLite file in a temporary
directory, or a PostgreSQL database created for the test and dropped after it.

Choose databases with ``--cultiveat-db=sqlite,postgresql`` (or ``CULTIVEAT_TEST_DATABASES``).
Tests needing PostgreSQL or Redis skip when the server is absent, and fail under ``CI=true``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from cultiveat_core.crm import CRM, create_crm
from cultiveat_core.db import migrate
from cultiveat_core.db.engine import create_db_engine
from cultiveat_core.settings import Settings

PG_URL = os.environ.get("CULTIVEAT_TEST_POSTGRESQL_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("CULTIVEAT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _unavailable(what: str) -> None:
    message = f"{what} is not reachable"
    if in_ci():
        pytest.fail(f"{message}, and CI=true requires it (.ci/run starts it)")
    pytest.skip(f"{message}; skipped locally (CI=true makes this a failure)")


def postgresql_available() -> bool:
    try:
        engine = sa.create_engine(PG_URL, pool_pre_ping=True)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


def redis_available() -> bool:
    host, _, port = REDIS_URL.split("//", 1)[1].split("/", 1)[0].partition(":")
    try:
        with socket.create_connection((host, int(port or 6379)), timeout=1):
            return True
    except OSError:
        return False


def require_postgresql() -> str:
    if not postgresql_available():
        _unavailable(f"PostgreSQL ({PG_URL})")
    return PG_URL


def require_redis() -> str:
    if not redis_available():
        _unavailable(f"Redis ({REDIS_URL})")
    return REDIS_URL


def _pg_admin() -> sa.Engine:
    return sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")


def _url_for_database(name: str) -> str:
    return str(sa.make_url(PG_URL).set(database=name).render_as_string(hide_password=False))


class DatabaseFactory:
    """Fresh migrated databases, from a template migrated once per set of migration locations."""

    def __init__(self, tmp_root: Path) -> None:
        self.tmp_root = tmp_root
        self.sqlite_templates: dict[str, Path] = {}
        self.pg_templates: dict[str, str] = {}
        self.pg_databases: list[str] = []
        self.pg_seeds: dict[str, PgSeeds] = {}
        self.pg_free: dict[str, list[str]] = {}
        self.pg_key_of: dict[str, str] = {}

    @staticmethod
    def _key(locations: Sequence[str]) -> str:
        joined = "|".join(sorted(locations)).encode()
        return hashlib.sha1(joined, usedforsecurity=False).hexdigest()[:12]

    def sqlite_url(self, locations: Sequence[str]) -> str:
        key = self._key(locations)
        if key not in self.sqlite_templates:
            template = self.tmp_root / f"template-{key}.db"
            engine = create_db_engine(f"sqlite:///{template}")
            migrate.upgrade(engine, locations)
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            engine.dispose()
            self.sqlite_templates[key] = template
        target = self.tmp_root / f"crm-{uuid.uuid4().hex[:10]}.db"
        shutil.copyfile(self.sqlite_templates[key], target)
        return f"sqlite:///{target}"

    def postgresql_url(self, locations: Sequence[str]) -> str:
        require_postgresql()
        key = self._key(locations)
        admin = _pg_admin()
        try:
            if key not in self.pg_templates:
                template = f"cvtpl_{os.getpid()}_{key}"
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{template}"')
                    conn.exec_driver_sql(f'CREATE DATABASE "{template}"')
                engine = create_db_engine(_url_for_database(template))
                migrate.upgrade(engine, locations)
                engine.dispose()
                self.pg_seeds[key] = PgSeeds.capture(_url_for_database(template))
                self.pg_templates[key] = template
            if self.pg_free.get(key):
                return _url_for_database(self.pg_free[key].pop())
            name = f"cvtest_{os.getpid()}_{uuid.uuid4().hex[:10]}"
            with admin.connect() as conn:
                template = self.pg_templates[key]
                conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            self.pg_databases.append(name)
            self.pg_key_of[name] = key
            return _url_for_database(name)
        finally:
            admin.dispose()

    def release(self, name: str) -> None:
        """Give a test's database back: reset to the template's content and pool it for reuse.

        Creating a database from a template costs about a second on a busy machine; truncating
        its tables and restoring the rows the migrations seeded costs a few milliseconds.
        """
        key = self.pg_key_of.get(name)
        if key is None or not self.pg_seeds[key].reset(_url_for_database(name)):
            self.drop(name)
            return
        self.pg_free.setdefault(key, []).append(name)

    def drop(self, name: str) -> None:
        admin = _pg_admin()
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            admin.dispose()

    def close(self) -> None:
        if not self.pg_databases and not self.pg_templates:
            return
        for name in [*self.pg_databases, *self.pg_templates.values()]:
            try:
                self.drop(name)
            except Exception:  # noqa: S112 - best effort cleanup
                continue


def _versions(conn: sa.Connection) -> set[str]:
    query = sa.text(f"SELECT version_num FROM {migrate.VERSION_TABLE}")
    return set(conn.execute(query).scalars())


class PgSeeds:
    """The rows a migrated template holds (seeded by migrations), to restore after a test."""

    def __init__(self, tables: list[sa.Table], rows: dict[str, list[dict[str, Any]]],
                 versions: set[str]) -> None:
        self.tables = tables
        self.rows = rows
        self.versions = versions

    @classmethod
    def capture(cls, url: str) -> PgSeeds:
        engine = sa.create_engine(url, poolclass=sa.NullPool)
        try:
            with engine.connect() as conn:
                meta = sa.MetaData()
                meta.reflect(conn)
                tables = [t for t in meta.sorted_tables if t.name != migrate.VERSION_TABLE]
                rows = {}
                for table in tables:
                    found = [dict(r) for r in conn.execute(sa.select(table)).mappings()]
                    if found:
                        rows[table.name] = found
                versions = _versions(conn)
        finally:
            engine.dispose()
        return cls(tables, rows, versions)

    def reset(self, url: str) -> bool:
        """Truncate every table and restore the seeds; False when the database cannot be reused."""
        engine = sa.create_engine(url, poolclass=sa.NullPool)
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql("SET LOCAL lock_timeout = '3s'")
                current = set(sa.inspect(conn).get_table_names())
                expected = {t.name for t in self.tables} | {migrate.VERSION_TABLE}
                if _versions(conn) != self.versions or current != expected:
                    return False
                names = ", ".join(f'"{t.name}"' for t in self.tables)
                conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
                for table in self.tables:
                    rows = self.rows.get(table.name)
                    if not rows:
                        continue
                    writable = [c.name for c in table.columns if c.computed is None]
                    conn.execute(table.insert(), [{k: r[k] for k in writable} for r in rows])
                    if "id" in table.c and isinstance(table.c.id.type, sa.Integer):
                        conn.execute(sa.text(
                            f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', 'id'), "
                            f"(SELECT max(id) FROM \"{table.name}\"))"
                            f" WHERE pg_get_serial_sequence('\"{table.name}\"', 'id') IS NOT NULL"))
            return True
        except Exception:
            return False
        finally:
            engine.dispose()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cultiveat")
    group.addoption(
        "--cultiveat-db",
        default=os.environ.get("CULTIVEAT_TEST_DATABASES", "sqlite"),
        help="comma list of databases the crm fixtures run on: sqlite, postgresql",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "cultiveat_backend" in metafunc.fixturenames:
        chosen = str(metafunc.config.getoption("--cultiveat-db")).split(",")
        backends = [b.strip() for b in chosen if b.strip()]
        if metafunc.definition.get_closest_marker("all_databases"):
            backends = ["sqlite", "postgresql"]
        metafunc.parametrize("cultiveat_backend", backends, scope="function")


@pytest.fixture(scope="session")
def cultiveat_databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(tmp_path_factory.mktemp("cultiveat-db"))
    yield factory
    factory.close()


@pytest.fixture
def make_crm(
    cultiveat_backend: str, cultiveat_databases: DatabaseFactory
) -> Iterator[Callable[..., CRM]]:
    """``make_crm(plugins=[...], load_entrypoints=False, migrate=True, **settings)`` -> CRM."""
    made: list[tuple[CRM, str | None]] = []

    def factory(plugins: Sequence[Any] = (), load_entrypoints: bool = False, migrate: bool = True,
                environ: dict[str, str] | None = None, **settings: Any) -> CRM:
        explicit_url = settings.pop("database_url", None)
        settings.setdefault("secret_key", "test-secret-key-" + "x" * 32)
        settings.setdefault("embedded_worker", False)
        settings.setdefault("token_cache_seconds", 0.0)
        env = dict(os.environ if environ is None else environ)
        # The probe sees the same settings (blocked plugins, strict mode) as the CRM will.
        probe = create_crm(Settings.from_env(environ=env, database_url="sqlite://", **settings),
                           plugins=plugins, load_entrypoints=load_entrypoints)
        locations = probe.migration_locations
        probe.close()
        if explicit_url is not None:
            url, name = explicit_url, None
        elif cultiveat_backend == "postgresql":
            url = (cultiveat_databases.postgresql_url(locations) if migrate
                   else _empty_pg(cultiveat_databases))
            name = sa.make_url(url).database
        else:
            url = cultiveat_databases.sqlite_url(locations) if migrate else \
                f"sqlite:///{cultiveat_databases.tmp_root / f'empty-{uuid.uuid4().hex[:8]}.db'}"
            name = None
        crm = create_crm(Settings.from_env(environ=env, database_url=url, **settings),
                         plugins=plugins, load_entrypoints=load_entrypoints)
        made.append((crm, name))
        return crm

    yield factory
    for crm, name in made:
        crm.close()
        if name:
            cultiveat_databases.release(name)


def _empty_pg(factory: DatabaseFactory) -> str:
    require_postgresql()
    name = f"cvtest_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    factory.pg_databases.append(name)
    return _url_for_database(name)


@pytest.fixture
def crm(make_crm: Callable[..., CRM]) -> CRM:
    """A CRM with the core only; override in a conftest to load your plugin."""
    return make_crm()


@pytest.fixture
def app(crm: CRM) -> Any:
    from cultiveat_core.web import create_app

    return create_app(crm, run_jobs=False)


def token_for(crm: CRM, role: str, email: str | None = None) -> str:
    from cultiveat_core.domain import Actor

    system = Actor.system("tests")
    email = email or f"{role}-{uuid.uuid4().hex[:6]}@example.com"
    user = crm.users.create(system, email, role)
    _, plain = crm.tokens.create(system, user, name="tests")
    return plain


@pytest.fixture
def client_for(app: Any, crm: CRM) -> Iterator[Callable[..., Any]]:
    """``client_for("sales")`` -> a TestClient sending a token of a new user with that role."""
    from litestar.testing import TestClient

    clients: list[Any] = []

    def factory(role: str = "admin", email: str | None = None) -> Any:
        # Litestar keeps one running lifespan's state per app (its event emitter): a second
        # TestClient on the same app hangs at exit. So every further client gets its own app.
        target = app if not clients else _fresh_app(crm)
        client = TestClient(target, raise_server_exceptions=False)
        client.__enter__()
        client.headers["Authorization"] = f"Bearer {token_for(crm, role, email)}"
        clients.append(client)
        return client

    yield factory
    for client in reversed(clients):
        client.__exit__(None, None, None)


def _fresh_app(crm: CRM) -> Any:
    from cultiveat_core.web import create_app

    return create_app(crm, run_jobs=False)


@pytest.fixture
def client(client_for: Callable[..., Any]) -> Any:
    """An HTTP client authenticated as an admin."""
    return client_for("admin")


@pytest.fixture
def run_jobs(crm: CRM) -> Callable[[], int]:
    """Run every due job now (the embedded runner's work, in the test's thread)."""
    return crm.jobs.run_pending


@pytest.fixture
def redis_url() -> str:
    return require_redis()


@pytest.fixture
def postgresql_url() -> str:
    return require_postgresql()


class SmtpInbox:
    """What a real SMTP server (aiosmtpd, on 127.0.0.1) received: parsed messages in order."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.port = 0

    @property
    def url(self) -> str:
        """``smtp://127.0.0.1:<port>`` for ``CULTIVEAT_MAIL_URL`` / ``CULTIVEAT_EMAIL_SMTP_URL``."""
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        from email import message_from_bytes, policy

        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def wait_for(self, n: int, seconds: float = 20.0) -> list[Any]:
        """The messages once ``n`` have arrived (or after ``seconds``, whatever came)."""
        deadline = time.monotonic() + seconds
        while len(self.messages) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages


@pytest.fixture
def smtp_inbox() -> Iterator[SmtpInbox]:
    """A real SMTP server (aiosmtpd) on a free port for the test; ``smtp_inbox.url`` to send to."""
    try:
        from aiosmtpd.controller import Controller
    except ImportError:  # pragma: no cover - aiosmtpd is in the test extras
        _unavailable("aiosmtpd (pip install aiosmtpd)")
        raise
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    box = SmtpInbox()
    box.port = port
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()
