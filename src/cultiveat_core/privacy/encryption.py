"""Sensitive contact fields encrypted at rest; key rotation (``cultiveat keys rotate``).

The encrypted columns are declared in the table: ``EncryptedText`` (``phone`` and the
contact's personal ``notes``). With ``CULTIVEAT_FIELD_ENCRYPTION_KEYS`` set, every write
through the CRM's engine encrypts them and every read decrypts them (the CRM hands its cipher
to the engine's dialect), so services, the list, exports and subject access see plaintext and
masking still applies on top. ``phone_key`` is the phone's blind index (HMAC of the
normalised number) for equality lookups such as duplicate detection.

Writers that bypass SQLAlchemy's column types (PostgreSQL ``COPY``) or want the blind index
call :func:`encrypt_contact_rows` on their rows first; it is idempotent (encrypted values are
left alone).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from cultiveat_core.db import tables
from cultiveat_core.db.metadata import EncryptedText

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

BATCH = 1000
HIDDEN = "[encrypted]"  # what a viewer without contacts.read_sensitive sees of an encrypted value
INDEXED = {"phone": "phone_key"}  # encrypted field -> its blind index column


def encrypted_fields() -> tuple[str, ...]:
    """The contact columns stored encrypted (declared ``EncryptedText`` in the table)."""
    return tuple(col.name for col in tables.contacts.columns if isinstance(col.type, EncryptedText))


def encrypt_contact_rows(
    crm: CRM, rows: Sequence[Any], columns: Sequence[str] | None = None
) -> list[Any]:
    """``rows`` ready to store: sensitive fields encrypted, ``phone_key`` filled.

    ``rows`` are dicts (keyed by column name; ``phone_key`` is added when ``phone`` is
    present) or tuples/lists whose values follow ``columns`` (which must then include
    ``phone_key`` next to ``phone`` for the index to be set). Returns new rows of the same
    kind, in order; values already encrypted stay as they are.
    """
    cipher = crm.cipher
    fields = encrypted_fields()
    encrypt = cipher.encrypt if cipher.enabled else None
    index = cipher.blind_index
    if columns is None:
        out_dicts: list[Any] = []
        for row in rows:
            new = dict(row)
            for name, key in INDEXED.items():
                if name in new:
                    new[key] = index(new[name])
            if encrypt is not None:
                for name in fields:
                    value = new.get(name)
                    if value is not None:
                        new[name] = encrypt(value)
            out_dicts.append(new)
        return out_dicts
    position = {name: i for i, name in enumerate(columns)}
    plans = [(position[n], position[k]) for n, k in INDEXED.items() if n in position and k in position]
    targets = [position[n] for n in fields if n in position]
    out_rows: list[Any] = []
    for row in rows:
        new_row = list(row)
        for source, target in plans:
            new_row[target] = index(new_row[source])
        if encrypt is not None:
            for i in targets:
                if new_row[i] is not None:
                    new_row[i] = encrypt(new_row[i])
        out_rows.append(tuple(new_row) if isinstance(row, tuple) else new_row)
    return out_rows


def _columns(crm: CRM) -> list[tuple[sa.Table, str, str, str | None]]:
    """(table, column, key column, blind index column) for each column that may be encrypted."""
    found: list[tuple[sa.Table, str, str, str | None]] = [
        (tables.user_auth, "totp_secret", "user_id", None),
        (tables.user_auth, "totp_pending_secret", "user_id", None),
    ]
    found += [(tables.contacts, name, "id", INDEXED.get(name)) for name in encrypted_fields()]
    return found


def rotate_all(crm: CRM) -> dict[str, int]:
    """Encrypt plaintext, re-encrypt every value with the first key, recompute blind indexes.

    Works in batches of 1,000 rows (one transaction each), on the raw stored values; with no
    key configured it only recomputes the blind indexes. Returns rows rewritten per column.
    """
    cipher = crm.cipher
    counts: dict[str, int] = {}
    for table, name, key_name, index_name in _columns(crm):
        raw = sa.type_coerce(table.c[name], sa.String)  # the stored value, not decrypted
        key = table.c[key_name]
        done = 0
        last = None
        while True:
            query = sa.select(key, raw.label("v")).where(raw.is_not(None)).order_by(key).limit(BATCH)
            if last is not None:
                query = query.where(key > last)
            with crm.begin() as conn:
                rows = conn.execute(query).all()
                if not rows:
                    break
                changes = []
                for k, value in rows:
                    change = {"k": k, "v": cipher.rotate(value)}
                    if index_name is not None:
                        change["i"] = cipher.blind_index(cipher.decrypt(value))
                    changes.append(change)
                values: dict[str, Any] = {name: sa.type_coerce(sa.bindparam("v"), sa.String)}
                if index_name is not None:
                    values[index_name] = sa.bindparam("i")
                conn.execute(table.update().where(key == sa.bindparam("k")).values(values), changes)
            done += len(rows)
            last = rows[-1][0]
        counts[f"{table.name}.{name}"] = done
    return counts


def encrypt_sensitive_values(crm: CRM, value: Any) -> Any:
    """A copy of ``value`` (audit ``changes``, merge snapshots: nested dicts and lists) with the
    text under every encrypted contact field encrypted, e.g. ``{"phone": {"before": .., "after":
    ..}}`` or ``{"after": {"phone": ..}}``. Unchanged when no keys are set."""
    cipher = crm.cipher
    if not cipher.enabled:
        return value
    fields = set(encrypted_fields())

    def walk(item: Any, sensitive: bool) -> Any:
        if isinstance(item, dict):
            return {k: walk(v, sensitive or k in fields) for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v, sensitive) for v in item]
        if sensitive and isinstance(item, str):
            return cipher.encrypt(item)
        return item

    return walk(value, False)


def decrypt_sensitive_values(crm: CRM, value: Any, hidden: str | None = None) -> Any:
    """A copy of ``value`` with every encrypted text decrypted (or replaced by ``hidden``)."""
    from cultiveat_core.crypto import PREFIX

    def walk(item: Any) -> Any:
        if isinstance(item, dict):
            return {k: walk(v) for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v) for v in item]
        if isinstance(item, str) and item.startswith(PREFIX):
            return crm.cipher.decrypt(item) if hidden is None else hidden
        return item

    return walk(value)


def reveal_sensitive_values(crm: CRM, actor: Any, value: Any) -> Any:
    """``value`` as ``actor`` may see it: encrypted texts decrypted with
    ``contacts.read_sensitive``, replaced by ``[encrypted]`` without it."""
    from cultiveat_core.privacy.fields import PERMISSION

    return decrypt_sensitive_values(crm, value, None if actor.can(PERMISSION) else HIDDEN)
