"""The reference for the HTTP benchmarks: bare Litestar handlers running the same SQL as
``GET /api/contacts`` (the page of ids, then the rows with their owner's email, then their
tags) and ``GET /api/contacts/kpis`` (monthly counters, hot leads, companies), without auth,
services, validation, masking or plugins.  ``uvicorn --factory benchmarks.bare_app:create``
(or granian) with ``CULTIVEAT_DATABASE_URL`` set."""

from __future__ import annotations

import os
from typing import Any

import sqlalchemy as sa
from litestar import Litestar, get

from cultiveat_core.db import create_db_engine, tables
from cultiveat_core.services.search import search_condition

c, ct, t, u = tables.contacts, tables.contact_tags, tables.tags, tables.users


def create() -> Litestar:
    engine = create_db_engine(os.environ["CULTIVEAT_DATABASE_URL"])

    @get("/bare/contacts", sync_to_thread=True)
    def contacts(stage: str | None = None, q: str | None = None) -> dict[str, Any]:
        query = sa.select(c.c.id, c.c.created_at)
        if stage:
            query = query.where(c.c.stage == stage)
        if q:
            query = query.where(search_condition(engine.dialect.name, q))
        query = query.order_by(c.c.created_at.desc(), c.c.id.desc()).limit(51)
        with engine.connect() as conn:
            ids = [r.id for r in conn.execute(query)][:50]
            rows = (
                conn.execute(
                    sa.select(c, u.c.email.label("owner_email"))
                    .select_from(c.outerjoin(u, u.c.id == c.c.owner_id))
                    .where(c.c.id.in_(ids))
                )
                .mappings()
                .all()
            )
            tag_rows = conn.execute(
                sa.select(ct.c.contact_id, t.c.name)
                .join(t, t.c.id == ct.c.tag_id)
                .where(ct.c.contact_id.in_(ids))
                .order_by(ct.c.created_at, t.c.name)
            ).all()
        tags: dict[int, list[str]] = {}
        for contact_id, name in tag_rows:
            tags.setdefault(contact_id, []).append(name)
        by_id = {
            r["id"]: {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()}
            | {"tags": tags.get(r["id"], [])}
            for r in rows
        }
        return {"items": [by_id[i] for i in ids if i in by_id]}

    @get("/bare/kpis", sync_to_thread=True)
    def kpis() -> dict[str, Any]:
        with engine.connect() as conn:
            months = dict(
                conn.execute(
                    sa.select(tables.contact_counts.c.month, tables.contact_counts.c.total)
                ).all()
            )
            hot = conn.execute(
                sa.select(sa.func.count()).select_from(c).where(c.c.stage == "Hot Lead")
            ).scalar_one()
            companies = conn.execute(
                sa.select(sa.func.count()).select_from(tables.companies)
            ).scalar_one()
        return {"total": sum(months.values()), "hot_leads": hot, "companies": companies}

    return Litestar([contacts, kpis])
