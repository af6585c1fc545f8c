"""Periodic tasks: due schedules become queued jobs; the last run is kept in the database."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import sqlalchemy as sa

from cultiveat_core.db import tables
from cultiveat_core.db.metadata import utcnow
from cultiveat_core.domain import Actor
from cultiveat_core.services.unit_of_work import transaction

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

log = logging.getLogger("cultiveat.jobs")
s = tables.schedules


def enqueue_due(crm: CRM) -> list[str]:
    """Queue every periodic task whose interval has passed; safe to run in several processes."""
    queued: list[str] = []
    now = utcnow()
    for periodic in crm.registry.periodic_tasks.values():
        with transaction(crm, Actor.system("scheduler")) as work:
            query = sa.select(s.c.last_run_at).where(s.c.name == periodic.name)
            if work.conn.dialect.name == "postgresql":
                work.conn.execute(
                    sa.text("INSERT INTO core_schedules (name) VALUES (:n) ON CONFLICT DO NOTHING"),
                    {"n": periodic.name},
                )
                query = query.with_for_update()
            elif work.conn.execute(query).first() is None:
                work.conn.execute(s.insert().values(name=periodic.name))
            last = work.conn.execute(query).scalar()
            if last is not None and now - last < periodic.every:
                continue
            work.conn.execute(s.update().where(s.c.name == periodic.name).values(last_run_at=now))
            queued.append(crm.jobs.enqueue(periodic.task, periodic.payload, uow=work))
            log.info("scheduled %s (task %s)", periodic.name, periodic.task)
    return queued
