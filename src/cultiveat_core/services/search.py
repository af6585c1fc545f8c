"""Free-text search over name, email, company, position and tags.

Each contact carries ``search_doc``: those values in one text, written only here and always
set-based (one UPDATE for a batch of contacts). PostgreSQL lower-cases it and searches with a
pg_trgm GIN index (``LIKE '%term%'``); SQLite keeps it in an FTS5 table with the trigram
tokenizer (case-insensitive), falling back to ``LIKE`` for terms shorter than three
characters, which trigrams cannot index.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from cultiveat_core.db import tables

c = tables.contacts
MAX_TERMS = 8


def search_doc_expression(dialect: str) -> Any:
    """The SQL expression of a contact's search document (correlated to ``core_contacts``)."""
    ct, t = tables.contact_tags, tables.tags
    if dialect == "postgresql":
        tag_names = sa.func.string_agg(t.c.name, sa.literal_column("' '"))
    else:
        tag_names = sa.func.group_concat(t.c.name, sa.literal_column("' '"))
    tags_text = (
        sa.select(tag_names)
        .select_from(ct.join(t, t.c.id == ct.c.tag_id))
        .where(ct.c.contact_id == c.c.id)
        .scalar_subquery()
    )
    space: Any = sa.literal_column("' '")
    doc = (
        c.c.first_name
        + space
        + c.c.last_name
        + space
        + c.c.email
        + space
        + sa.func.coalesce(c.c.company, "")
        + space
        + sa.func.coalesce(c.c.position, "")
        + space
        + sa.func.coalesce(tags_text, "")
    )
    return sa.func.lower(doc) if dialect == "postgresql" else doc


def refresh_search_docs(conn: sa.Connection, ids: Sequence[int] | Any) -> None:
    """Recompute the search document of ``ids`` (a list or a select of ids) in one statement."""
    if isinstance(ids, Sequence) and not ids:
        return
    condition = c.c.id.in_(list(ids)) if isinstance(ids, Sequence) else c.c.id.in_(ids)
    conn.execute(
        c.update().where(condition).values(search_doc=search_doc_expression(conn.dialect.name))
    )


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_terms(text: str) -> list[str]:
    """Words of a query (at most eight), without quotes that would break an FTS5 phrase."""
    words = [w.replace('"', "").replace("\x00", "") for w in text.split()]
    return [w for w in words if w][:MAX_TERMS]


def search_condition(dialect: str, text: str) -> Any:
    """A WHERE condition matching contacts whose document contains every word (substring)."""
    conditions = []
    for word in search_terms(text):
        if dialect == "postgresql":
            conditions.append(c.c.search_doc.like(f"%{_escape_like(word.lower())}%", escape="\\"))
        elif len(word) >= 3:
            fts = sa.text(
                "SELECT rowid FROM core_contacts_fts WHERE core_contacts_fts MATCH :phrase"
            )
            phrase = f'"{word}"'
            conditions.append(
                c.c.id.in_(
                    fts.bindparams(sa.bindparam("phrase", phrase, unique=True)).columns(
                        sa.column("rowid", sa.Integer)
                    )
                )
            )
        else:
            conditions.append(c.c.search_doc.like(f"%{_escape_like(word)}%", escape="\\"))
    return sa.and_(sa.true(), *conditions)


def search_document(values: dict[str, Any], tags: Sequence[str], dialect: str) -> str:
    """The search document of a contact about to be inserted (same text as
    ``search_doc_expression``), so bulk inserts write it once instead of updating every row."""
    parts = [
        values.get("first_name") or "",
        values.get("last_name") or "",
        values.get("email") or "",
        values.get("company") or "",
        values.get("position") or "",
        " ".join(dict.fromkeys(tags)),
    ]
    text = " ".join(parts)
    return text.lower() if dialect == "postgresql" else text
