"""Rule conditions other plugins add through ``register_score_conditions``.

A ``ScoreCondition`` turns a rule's ``params`` into a boolean SQL expression over the core
contacts table (correlated subqueries allowed), so conditions stay set-based. The plugin
ships one itself, ``has_tag``, written exactly the way another plugin would write its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs
import sqlalchemy as sa

from cultiveat_core.db import tables

# (contacts table, params) -> boolean SQL expression
ConditionSQL = Callable[[Any, Mapping[str, Any]], Any]
# params -> list of problems, each "what to fix"
ConditionCheck = Callable[[Mapping[str, Any]], list[str]]


def _no_problems(_params: Mapping[str, Any]) -> list[str]:
    return []


@attrs.frozen(kw_only=True)
class ScoreCondition:
    """A condition for rules ``{"type": "condition", "condition": name, "params": {...}}``."""

    name: str
    description: str
    sql: ConditionSQL = attrs.field(eq=False)
    validate: ConditionCheck = attrs.field(default=_no_problems, eq=False)
    params: Mapping[str, str] = attrs.field(factory=dict)  # param name -> what it means


def _has_tag_sql(contacts: Any, params: Mapping[str, Any]) -> Any:
    ct, t = tables.contact_tags, tables.tags
    return sa.exists(
        sa.select(ct.c.contact_id)
        .join(t, t.c.id == ct.c.tag_id)
        .where(ct.c.contact_id == contacts.c.id, t.c.name_key == str(params["tag"]).strip().lower())
    )


def _has_tag_check(params: Mapping[str, Any]) -> list[str]:
    tag = params.get("tag")
    if not isinstance(tag, str) or not tag.strip():
        return ['params.tag: give the tag name to look for, e.g. {"tag": "Enterprise"}']
    return []


HAS_TAG = ScoreCondition(
    name="has_tag",
    description="The contact carries the tag params.tag (case-insensitive).",
    sql=_has_tag_sql,
    validate=_has_tag_check,
    params={"tag": "tag name"},
)

BUILTIN_CONDITIONS = [HAS_TAG]
