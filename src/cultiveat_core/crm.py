"""The host object: settings, plugin manager, registry, database and services in one place."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pluggy
import sqlalchemy as sa

from cultiveat_core.crypto import FieldCipher, blind_index_key
from cultiveat_core.db import create_db_engine
from cultiveat_core.db import migrate as migrations
from cultiveat_core.domain import Actor
from cultiveat_core.errors import DatabaseNotMigrated
from cultiveat_core.events import EventDispatcher
from cultiveat_core.jobs import JobQueue
from cultiveat_core.plugins import PluginRecord, get_plugin_manager
from cultiveat_core.privacy.fields import FieldPolicy
from cultiveat_core.registry import Registry, build_registry
from cultiveat_core.services.activities import ActivityService
from cultiveat_core.services.auth import AuthService
from cultiveat_core.services.consent import ConsentService
from cultiveat_core.services.contacts import ContactService
from cultiveat_core.services.permissions import PermissionService
from cultiveat_core.services.sessions import SessionService
from cultiveat_core.services.tokens import TokenService
from cultiveat_core.services.unit_of_work import UnitOfWork, transaction
from cultiveat_core.services.users import UserService
from cultiveat_core.settings import Settings

log = logging.getLogger("cultiveat")
T = TypeVar("T")


class CRM:
    """Everything a process needs; build it with :func:`create_crm`."""

    def __init__(
        self, settings: Settings, pm: pluggy.PluginManager, plugin_records: dict[str, PluginRecord]
    ) -> None:
        self.settings = settings
        self.pm = pm
        self.plugin_records = plugin_records
        self.registry: Registry = Registry(items={})
        self._engine: sa.Engine | None = None
        self.events = EventDispatcher(self)
        self.permissions = PermissionService(self)
        self.contacts = ContactService(self)
        self.activities = ActivityService(self)
        self.users = UserService(self)
        self.tokens = TokenService(self)
        self.jobs = JobQueue(self)
        # identity, sessions, consent and field encryption (issue 5, docs/security.md)
        self.cipher = FieldCipher(
            settings.field_encryption_keys,
            blind_index_key(
                settings.blind_index_key, settings.secret_key, settings.field_encryption_keys
            ),
        )
        self.auth = AuthService(self)
        self.sessions = SessionService(self)
        self.consent = ConsentService(self)
        self.fields_policy = FieldPolicy(self)
        self.extensions: dict[str, Any] = {}  # plugins keep their service objects here

    # -- database -----------------------------------------------------------------------------

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            self._engine = create_db_engine(self.settings.database_url)
            # EncryptedText columns (phone, notes) encrypt and decrypt with it
            self._engine.dialect.cultiveat_cipher = self.cipher  # type: ignore[attr-defined]
        return self._engine

    @contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        """A read connection (no transaction management of its own beyond SQLAlchemy's)."""
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def begin(self) -> Iterator[sa.Connection]:
        """A short write transaction outside the services (bookkeeping: jobs, token use).

        On SQLite it takes the write lock up front (``BEGIN IMMEDIATE``) so concurrent
        writers wait for each other instead of failing.
        """
        with self.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                conn.info["immediate"] = True
            with conn.begin():
                yield conn

    def transaction(self, actor: Actor, uow: UnitOfWork | None = None) -> Any:
        """``with crm.transaction(actor) as uow:`` one commit; events fire after it."""
        return transaction(self, actor, uow)

    @property
    def migration_locations(self) -> list[str]:
        return [str(Path(r.item)) for r in self.registry.migrations]

    def upgrade_database(self) -> None:
        migrations.upgrade(self.engine, self.migration_locations, settings=self.settings)

    def migration_problem(self) -> str | None:
        try:
            return migrations.pending(self.engine, self.migration_locations)
        except sa.exc.OperationalError as exc:
            return f"database unreachable: {exc.orig}"
        except sa.exc.SQLAlchemyError as exc:
            return f"database error: {exc}"

    def check_database(self) -> None:
        problem = self.migration_problem()
        if problem is not None:
            raise DatabaseNotMigrated(problem)

    # -- plugins ------------------------------------------------------------------------------

    def plugin_settings(self, cls: type[T]) -> T:
        return self.settings.for_plugin(cls)

    def plugins_report(self) -> list[dict[str, Any]]:
        return [r.as_dict() for r in self.plugin_records.values()]

    @property
    def failed_plugins(self) -> list[PluginRecord]:
        return [r for r in self.plugin_records.values() if r.status == "failed"]

    def close(self) -> None:
        self.events.close()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def create_crm(
    settings: Settings | None = None,
    *,
    plugins: Sequence[Any] = (),
    load_entrypoints: bool = True,
) -> CRM:
    """Build a CRM with a fresh plugin manager: built-ins, then ``plugins``, then entry points."""
    settings = settings or Settings.from_env()
    loader = get_plugin_manager(settings, plugins, load_entrypoints)
    crm = CRM(settings, loader.pm, loader.records)
    crm.registry = build_registry(crm, loader)
    return crm
