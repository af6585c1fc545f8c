"""Key rotation for every encrypted column (``cultiveat keys rotate``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from cultiveat_core.crypto import PREFIX
from cultiveat_core.db import tables

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

BATCH = 1000


def encrypted_columns(crm: CRM) -> list[tuple[sa.Table, sa.Column[str], sa.Column[int]]]:
    """(table, column, key column) for each column that may hold ``enc:`` values."""
    ua = tables.user_auth
    columns = [(ua, ua.c.totp_secret, ua.c.user_id), (ua, ua.c.totp_pending_secret, ua.c.user_id)]
    c = tables.contacts
    for name in crm.settings.sensitive_fields:
        if name in c.c and isinstance(c.c[name].type, sa.String | sa.Text):
            columns.append((c, c.c[name], c.c.id))
    return columns


def rotate_all(crm: CRM) -> dict[str, int]:
    """Re-encrypt every ``enc:`` value with the first key, in batches of 1,000 rows."""
    counts: dict[str, int] = {}
    for table, column, key in encrypted_columns(crm):
        done = 0
        last = None
        while True:
            query = (
                sa.select(key, column).where(column.like(f"{PREFIX}%")).order_by(key).limit(BATCH)
            )
            if last is not None:
                query = query.where(key > last)
            with crm.begin() as conn:
                rows = conn.execute(query).all()
                if not rows:
                    break
                conn.execute(
                    table.update()
                    .where(key == sa.bindparam("k"))
                    .values({column.name: sa.bindparam("v")}),
                    [{"k": k, "v": crm.cipher.rotate(v)} for k, v in rows],
                )
            done += len(rows)
            last = rows[-1][0]
        counts[f"{table.name}.{column.name}"] = done
    return counts
