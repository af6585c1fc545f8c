"""A reference evaluator in plain Python: what a definition means, contact by contact.

The compiler's SQL must select exactly the contacts this selects (tests/test_compiler.py).
It reads every table into memory, so it is only for small test data.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import attrs
import sqlalchemy as sa
from cultiveat_segments import tables
from cultiveat_segments.definitions import (
    ActivityCondition,
    All,
    AnyOf,
    FieldCondition,
    Not,
    PreferenceListCondition,
    PurchaseCondition,
    SegmentCondition,
    TagCondition,
)

from cultiveat_core.db import tables as core


@attrs.frozen
class World:
    contacts: dict[int, dict[str, Any]]
    tags: dict[int, set[str]]
    activities: dict[int, list[dict[str, Any]]]
    members: dict[int, set[int]]
    preferences: dict[int, dict[str, Any]]


def load_world(conn: sa.Connection) -> World:
    contacts = {r["id"]: dict(r) for r in conn.execute(sa.select(core.contacts)).mappings()}
    tags: dict[int, set[str]] = {cid: set() for cid in contacts}
    for cid, key in conn.execute(
        sa.select(core.contact_tags.c.contact_id, core.tags.c.name_key).join(
            core.tags, core.tags.c.id == core.contact_tags.c.tag_id
        )
    ):
        tags[cid].add(key)
    activities: dict[int, list[dict[str, Any]]] = {cid: [] for cid in contacts}
    for r in conn.execute(sa.select(core.activities)).mappings():
        activities[r["contact_id"]].append(dict(r))
    members: dict[int, set[int]] = {}
    for sid, cid in conn.execute(
        sa.select(tables.members.c.segment_id, tables.members.c.contact_id)
    ):
        members.setdefault(sid, set()).add(cid)
    prefs = {
        r["contact_id"]: dict(r) for r in conn.execute(sa.select(tables.preferences)).mappings()
    }
    return World(contacts, tags, activities, members, prefs)


def typed(value: Any, kind: str) -> Any:
    if kind == "text":
        return value if isinstance(value, str) else None
    if kind == "number":
        return value if isinstance(value, int | float) and not isinstance(value, bool) else None
    if kind == "bool":
        return value if isinstance(value, bool) else None
    return value


def field_value(node: FieldCondition, cid: int, world: World) -> Any:
    if node.source == "column":
        return world.contacts[cid][node.name]
    if node.source == "custom":
        return typed((world.contacts[cid]["custom"] or {}).get(node.name), node.type)
    if node.source == "preference":
        return (world.preferences.get(cid) or {}).get(node.name)
    raise AssertionError(node.source)


def evaluate(node: Any, cid: int, world: World, now: datetime) -> bool:
    if isinstance(node, All):
        return all(evaluate(n, cid, world, now) for n in node.children)
    if isinstance(node, AnyOf):
        return any(evaluate(n, cid, world, now) for n in node.children)
    if isinstance(node, Not):
        return not evaluate(node.child, cid, world, now)
    if isinstance(node, FieldCondition):
        value = field_value(node, cid, world)
        if value is None:
            return bool(node.op.null_result)
        return node.op.python(value, node.value, now)
    if isinstance(node, TagCondition):
        have = world.tags[cid] & set(node.tags)
        return {"any": bool(have), "all": have == set(node.tags), "none": not have}[node.match]
    if isinstance(node, ActivityCondition):
        since = None if node.within_days is None else now - timedelta(days=node.within_days)
        n = sum(
            1
            for a in world.activities[cid]
            if a["type"] in node.types and (since is None or a["occurred_at"] >= since)
        )
        return n >= node.min_count and (node.max_count is None or n <= node.max_count)
    if isinstance(node, PurchaseCondition):
        since = None if node.within_days is None else now - timedelta(days=node.within_days)
        buys = [
            a
            for a in world.activities[cid]
            if a["type"] == "purchase" and (since is None or a["occurred_at"] >= since)
        ]
        ops = {
            ">": lambda x, v: x > v,
            ">=": lambda x, v: x >= v,
            "<": lambda x, v: x < v,
            "<=": lambda x, v: x <= v,
        }
        if node.metric == "days_since_last_purchase":
            if not buys:
                return False
            days = (now - max(a["occurred_at"] for a in buys)).total_seconds() / 86400
            return ops[node.op](days, node.value)
        amounts = [float(a["data"]["amount"]) for a in buys]
        value = {
            "total_spent": sum(amounts),
            "purchase_count": len(amounts),
            "average_order_value": sum(amounts) / len(amounts) if amounts else None,
        }[node.metric]
        return value is not None and ops[node.op](value, node.value)
    if isinstance(node, SegmentCondition):
        return cid in world.members.get(node.segment_id, set())
    if isinstance(node, PreferenceListCondition):
        have = node.value in ((world.preferences.get(cid) or {}).get(node.name) or [])
        return have if node.includes else not have
    raise AssertionError(f"unknown node {node!r}")


def select(node: Any, world: World, now: datetime) -> set[int]:
    return {cid for cid in world.contacts if evaluate(node, cid, world, now)}
