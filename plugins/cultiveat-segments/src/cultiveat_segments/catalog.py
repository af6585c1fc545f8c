"""Stored segments as the engine sees them: analysed definitions in dependency order."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from cultiveat_segments import tables
from cultiveat_segments.definitions import Analysis, Vocabulary, analyse
from cultiveat_segments.operators import SegmentOperator, builtin_operators, operator_table

if TYPE_CHECKING:
    from cultiveat_core import CRM

s = tables.segments


def operators(crm: CRM) -> list[SegmentOperator]:
    """Every operator: this plugin's own and other plugins' (``register_segment_operators``)."""
    return list(
        crm.registry.extra(  # noqa: S610 - the registry, not Django
            crm, "register_segment_operators", lambda op: f"{','.join(op.types)}:{op.name}"
        )
    )


def vocabulary(crm: CRM, conn: sa.Connection) -> Vocabulary:
    ids = set(conn.execute(sa.select(s.c.id)).scalars())
    ops = operators(crm) or builtin_operators()
    return Vocabulary(
        contact_fields=dict(crm.registry.contact_fields),
        operators=operator_table(ops),
        activity_types=frozenset(crm.registry.activity_types),
        segment_exists=ids.__contains__,
        custom_types=custom_types(crm, conn),
    )


# a declared custom field's type -> how a condition compares it (choices and dates as text)
CUSTOM_TYPE_MAP = {
    "text": "text",
    "choice": "text",
    "date": "text",
    "number": "number",
    "bool": "bool",
}


def custom_types(crm: CRM, conn: sa.Connection) -> dict[str, str]:
    service = getattr(crm.contacts, "custom_fields", None)
    if service is None:
        return {}
    return {
        name: CUSTOM_TYPE_MAP.get(field.type, "text") for name, field in service.all(conn).items()
    }


@attrs.frozen
class StoredSegment:
    id: int
    name: str
    kind: str
    definition: Any
    analysis: Analysis | None  # None for static and ML segments

    @property
    def unavailable_reason(self) -> str | None:
        if self.analysis is None:
            return None
        if self.analysis.errors:
            return "; ".join(f"{e.field}: {e.message}" for e in self.analysis.errors)
        if self.analysis.unavailable:
            return "; ".join(u.reason for u in self.analysis.unavailable)
        return None

    @property
    def depends_on(self) -> frozenset[int]:
        return self.analysis.segment_refs if self.analysis is not None else frozenset()


def load(crm: CRM, conn: sa.Connection, ids: Iterable[int] | None = None) -> list[StoredSegment]:
    vocab = vocabulary(crm, conn)
    query = sa.select(s.c.id, s.c.name, s.c.kind, s.c.definition).order_by(s.c.id)
    if ids is not None:
        query = query.where(s.c.id.in_(list(ids)))
    found = []
    for row in conn.execute(query).mappings():
        analysis = analyse(row["definition"], vocab) if row["kind"] == "dynamic" else None
        found.append(
            StoredSegment(row["id"], row["name"], row["kind"], row["definition"], analysis)
        )
    return found


def load_cached(crm: CRM, conn: sa.Connection) -> list[StoredSegment]:
    """``load`` for the event path: re-analysed only when a segment or custom field changed."""
    stamp = (
        tuple(
            conn.execute(
                sa.select(sa.func.count(), sa.func.max(s.c.id), sa.func.max(s.c.updated_at))
            ).one()
        ),
        tuple(sorted(custom_types(crm, conn).items())),
    )
    cached = crm.extensions.get("segments.catalog")
    if cached is None or cached[0] != stamp:
        cached = (stamp, load(crm, conn))
        crm.extensions["segments.catalog"] = cached
    return list(cached[1])


def dependency_order(segments: list[StoredSegment]) -> list[StoredSegment]:
    """Segments used by others first, so "member of segment B" reads B's fresh members."""
    by_id = {seg.id: seg for seg in segments}
    ordered: list[StoredSegment] = []
    state: dict[int, int] = {}

    def visit(seg: StoredSegment) -> None:
        if state.get(seg.id) == 2:
            return
        if state.get(seg.id) == 1:
            return  # a cycle cannot be saved; stay safe if one exists in old data
        state[seg.id] = 1
        for dep in sorted(seg.depends_on):
            if dep in by_id:
                visit(by_id[dep])
        state[seg.id] = 2
        ordered.append(seg)

    for seg in segments:
        visit(seg)
    return ordered


def creates_cycle(graph: Mapping[int, Iterable[int]], start: int) -> bool:
    """Would ``start`` reach itself through the "member of segment" references in ``graph``?"""
    seen: set[int] = set()
    stack = list(graph.get(start, ()))
    while stack:
        node = stack.pop()
        if node == start:
            return True
        if node not in seen:
            seen.add(node)
            stack.extend(graph.get(node, ()))
    return False
