"""The reference for the list benchmark: a bare Litestar handler running the same SQL as
``GET /api/contacts`` (page of ids, then the rows and their tags), without auth, services,
validation or plugins.  ``uvicorn --factory benchmarks.bare_app:create`` with
``CULTIVEAT_DATABASE_URL`` set."""

from __future__ import annotations

import os
from typing import Any

import sqlalchemy as sa
from litestar import Litestar, get

from cultiveat_core.db import create_db_engine, tables
from cultiveat_core.services.search import search_condition

c, ct, t = tables.contacts, tables.contact_tags, tables.tags


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
            rows = conn.execute(sa.select(c).where(c.c.id.in_(ids))).mappings().all()
            tag_rows = conn.execute(
                sa.select(ct.c.contact_id, t.c.name)
                .join(t, t.c.id == ct.c.tag_id)
                .where(ct.c.contact_id.in_(ids))
            ).all()
        tags: dict[int, list[str]] = {}
        for contact_id, name in tag_rows:
            tags.setdefault(contact_id, []).append(name)
        return {
            "items": [
                {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()}
                | {"tags": tags.get(r["id"], [])}
                for r in rows
            ]
        }

    return Litestar([contacts])
