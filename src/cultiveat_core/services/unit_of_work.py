"""One transaction: the writes, their audit records, the jobs it queues and the events it fires.

``crm.transaction(actor)`` opens one; services pass it on (``uow=``) so a use case that calls
several services still commits once. Audit records are written in the same transaction;
events fire and queued jobs are dispatched only after the commit, never for a rollback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from cultiveat_core.domain import Actor
from cultiveat_core.events import Event
from cultiveat_core.services.audit import AuditRecord, write_audit_records

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM


class UnitOfWork:
    def __init__(self, crm: CRM, actor: Actor, conn: sa.Connection) -> None:
        self.crm = crm
        self.actor = actor
        self.conn = conn
        self.events: list[Event] = []
        self.audit_records: list[AuditRecord] = []
        self.after_commit: list[Callable[[], None]] = []

    def emit(self, hook_name: str, **kwargs: Any) -> None:
        """Queue an event; it fires after the commit."""
        self.events.append(Event(hook_name, kwargs))

    def audit(
        self,
        action: str,
        object_type: str,
        object_id: Any = None,
        changes: dict[str, Any] | None = None,
    ) -> None:
        """Record who did what to which object (and before/after values) in this transaction.
        A contact's sensitive fields (phone, notes) are stored encrypted here too, as in their
        table, when keys are set."""
        if changes and object_type == "contact":
            from cultiveat_core.privacy.encryption import encrypt_sensitive_values

            changes = encrypt_sensitive_values(self.crm, changes)
        self.audit_records.append(
            AuditRecord.create(self.actor, action, object_type, object_id, changes or {})
        )

    def on_commit(self, callback: Callable[[], None]) -> None:
        self.after_commit.append(callback)

    def execute(self, statement: Any, params: Any = None) -> sa.CursorResult[Any]:
        return self.conn.execute(statement, params) if params is not None else self.conn.execute(statement)


@contextmanager
def transaction(crm: CRM, actor: Actor, uow: UnitOfWork | None = None) -> Iterator[UnitOfWork]:
    """Open a transaction for ``actor``, or join ``uow`` when one is already open."""
    if uow is not None:
        yield uow
        return
    with crm.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.info["immediate"] = True
        with conn.begin():
            work = UnitOfWork(crm, actor, conn)
            yield work
            if work.audit_records:
                write_audit_records(conn, work.audit_records)
    crm.events.fire(work.events)
    for callback in work.after_commit:
        callback()
