"""Files held between the import wizard's steps, one row each in ``web_import_uploads``."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from cultiveat_core.db.metadata import utcnow
from cultiveat_core.domain import Actor
from cultiveat_core.errors import NotFound
from cultiveat_web.tables import import_uploads

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

KEEP_FOR = timedelta(days=1)
t = import_uploads


@attrs.frozen
class Upload:
    id: str
    filename: str
    data: bytes
    options: Mapping[str, Any]


def store(crm: CRM, actor: Actor, filename: str, data: bytes, options: Mapping[str, Any]) -> str:
    upload_id = str(uuid.uuid4())
    with crm.begin() as conn:
        conn.execute(t.delete().where(t.c.created_at < utcnow() - KEEP_FOR))
        conn.execute(
            t.insert().values(
                id=upload_id,
                user_id=actor.user_id,
                filename=filename[:300],
                data=data,
                options=dict(options),
                created_at=utcnow(),
            )
        )
    return upload_id


def load(crm: CRM, actor: Actor, upload_id: str) -> Upload:
    """The actor's own upload (another user's is as good as missing)."""
    with crm.engine.connect() as conn:
        row = (
            conn.execute(sa.select(t).where(t.c.id == upload_id, t.c.user_id == actor.user_id))
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound("this upload is gone (uploads are kept for a day); upload the file again")
    return Upload(row["id"], row["filename"], bytes(row["data"]), row["options"] or {})


def update_options(crm: CRM, upload_id: str, options: Mapping[str, Any]) -> None:
    with crm.begin() as conn:
        conn.execute(t.update().where(t.c.id == upload_id).values(options=dict(options)))


def discard(crm: CRM, upload_id: str) -> None:
    with crm.begin() as conn:
        conn.execute(t.delete().where(t.c.id == upload_id))
