"""Keeping ``segments_members`` equal to what each segment's definition selects.

A full refresh evaluates the compiled definition once and applies the difference with
set-based statements: on PostgreSQL one statement (writable CTEs insert the entries, delete
the exits and write their history), on SQLite the target set goes to a temporary table and
three statements apply it. Event-driven re-evaluation runs the same compiled query limited to
a batch of contact ids. Either way ``segment_membership_changed`` fires after the commit with
the ids that entered and left.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from cultiveat_core import Actor
from cultiveat_core.db.metadata import UTCDateTime, utcnow
from cultiveat_segments import catalog, tables
from cultiveat_segments.compiler import (
    CompileContext,
    UnavailableCondition,
    compile_node,
    segment_target,
)

if TYPE_CHECKING:
    from cultiveat_core import CRM
    from cultiveat_core.services.unit_of_work import UnitOfWork

log = logging.getLogger("cultiveat.segments")
s, m, o, h = tables.segments, tables.members, tables.overrides, tables.history


@attrs.frozen
class RefreshResult:
    segment_id: int
    name: str
    entered: int = 0
    left: int = 0
    size: int = 0
    skipped: str | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


def context(
    crm: CRM, conn: sa.Connection, restrict_ids: Sequence[int] | None = None
) -> CompileContext:
    return CompileContext(
        dialect=conn.dialect.name,
        now=utcnow(),
        contact_fields=dict(crm.registry.contact_fields),
        restrict_ids=None if restrict_ids is None else tuple(restrict_ids),
    )


def override_flags(conn: sa.Connection, segment_id: int) -> tuple[bool, bool]:
    modes = set(
        conn.execute(sa.select(o.c.mode).where(o.c.segment_id == segment_id).distinct()).scalars()
    )
    return "include" in modes, "exclude" in modes


def all_override_flags(conn: sa.Connection) -> dict[int, tuple[bool, bool]]:
    """(has includes, has excludes) of every segment with overrides, in one query."""
    flags: dict[int, tuple[bool, bool]] = {}
    for segment_id, mode in conn.execute(sa.select(o.c.segment_id, o.c.mode).distinct()):
        inc, exc = flags.get(segment_id, (False, False))
        flags[segment_id] = (inc or mode == "include", exc or mode == "exclude")
    return flags


def target_query(
    conn: sa.Connection,
    seg: catalog.StoredSegment,
    ctx: CompileContext,
    flags: tuple[bool, bool] | None = None,
) -> Any:
    """The compiled SELECT of the segment's contact ids; raises UnavailableCondition."""
    rule: Any = sa.false()
    if seg.kind == "dynamic":
        assert seg.analysis is not None
        if seg.unavailable_reason is not None:
            raise UnavailableCondition(seg.unavailable_reason)
        rule = compile_node(seg.analysis.node, ctx)
    flags = override_flags(conn, seg.id) if flags is None else flags
    return segment_target(seg.id, seg.kind, rule, flags, ctx)


def _emit(
    uow: UnitOfWork, seg: catalog.StoredSegment, entered: list[int], left: list[int], reason: str
) -> None:
    if entered or left:
        uow.emit(
            "segment_membership_changed",
            segment_id=seg.id,
            segment_name=seg.name,
            entered=sorted(entered),
            left=sorted(left),
            reason=reason,
        )


def _apply_full_postgresql(
    conn: sa.Connection, seg_id: int, target: Any, reason: str
) -> list[tuple[int, str]]:
    now = utcnow()
    tgt = target.cte("target")
    ins = (
        m.insert()
        .from_select(
            ["segment_id", "contact_id", "added_at"],
            sa.select(sa.literal(seg_id), tgt.c.id, sa.literal(now, UTCDateTime())).where(
                ~sa.exists().where(m.c.segment_id == seg_id, m.c.contact_id == tgt.c.id)
            ),
        )
        .returning(m.c.contact_id)
    ).cte("ins")
    dele = (
        m.delete()
        .where(
            m.c.segment_id == seg_id,
            ~sa.exists(sa.select(sa.literal(1)).select_from(tgt).where(tgt.c.id == m.c.contact_id)),
        )
        .returning(m.c.contact_id)
    ).cte("del")
    changes = sa.union_all(
        sa.select(ins.c.contact_id, sa.literal("entered").label("change")),
        sa.select(dele.c.contact_id, sa.literal("left").label("change")),
    ).cte("changes")
    hist = (
        h.insert()
        .from_select(
            ["segment_id", "contact_id", "change", "reason", "occurred_at"],
            sa.select(
                sa.literal(seg_id),
                changes.c.contact_id,
                changes.c.change,
                sa.literal(reason),
                sa.literal(now, UTCDateTime()),
            ),
        )
        .returning(h.c.contact_id, h.c.change)
    ).cte("hist")
    return [(r[0], r[1]) for r in conn.execute(sa.select(hist.c.contact_id, hist.c.change))]


TARGET = sa.Table(
    "segments_target",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    prefixes=["TEMPORARY"],
)
CHANGES = sa.Table(
    "segments_changes",
    sa.MetaData(),
    sa.Column("contact_id", sa.Integer, primary_key=True),
    sa.Column("change", sa.String(10)),
    prefixes=["TEMPORARY"],
)


def _apply_full_sqlite(
    conn: sa.Connection, seg_id: int, target: Any, reason: str
) -> list[tuple[int, str]]:
    """Evaluate the target once into a temporary table, then apply the difference set-based."""
    now = sa.literal(utcnow(), UTCDateTime())
    for table in (TARGET, CHANGES):
        table.create(conn, checkfirst=True)
        conn.execute(table.delete())
    conn.execute(TARGET.insert().from_select(["id"], target))
    conn.execute(
        CHANGES.insert().from_select(
            ["contact_id", "change"],
            sa.select(TARGET.c.id, sa.literal("entered")).where(
                ~sa.exists().where(m.c.segment_id == seg_id, m.c.contact_id == TARGET.c.id)
            ),
        )
    )
    conn.execute(
        CHANGES.insert().from_select(
            ["contact_id", "change"],
            sa.select(m.c.contact_id, sa.literal("left")).where(
                m.c.segment_id == seg_id, ~sa.exists().where(TARGET.c.id == m.c.contact_id)
            ),
        )
    )
    entered = sa.select(CHANGES.c.contact_id).where(CHANGES.c.change == "entered")
    conn.execute(
        m.insert().from_select(
            ["segment_id", "contact_id", "added_at"],
            sa.select(sa.literal(seg_id), entered.subquery().c.contact_id, now),
        )
    )
    conn.execute(
        m.delete().where(
            m.c.segment_id == seg_id,
            m.c.contact_id.in_(sa.select(CHANGES.c.contact_id).where(CHANGES.c.change == "left")),
        )
    )
    conn.execute(
        h.insert().from_select(
            ["segment_id", "contact_id", "change", "reason", "occurred_at"],
            sa.select(
                sa.literal(seg_id), CHANGES.c.contact_id, CHANGES.c.change, sa.literal(reason), now
            ),
        )
    )
    changes = [
        (r[0], r[1]) for r in conn.execute(sa.select(CHANGES.c.contact_id, CHANGES.c.change))
    ]
    conn.execute(TARGET.delete())
    conn.execute(CHANGES.delete())
    return changes


WORK_MEM = "256MB"


def allow_hashing(conn: sa.Connection) -> None:
    """PostgreSQL only hashes an ``IN``/``NOT IN`` subquery under OR or NOT when its result fits
    ``work_mem`` (4 MB by default); a 300,000-contact tag list does not, and the fallback
    rescans the list for every contact (minutes instead of a second at 500,000 contacts).
    Raised for this transaction only."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL work_mem = '{WORK_MEM}'")
        # JIT compiling these large-estimate plans costs more than it saves (measured:
        # hundreds of ms per statement on a loaded machine); off for this transaction only.
        conn.exec_driver_sql("SET LOCAL jit = off")


def refresh_one(
    crm: CRM, uow: UnitOfWork, seg: catalog.StoredSegment, reason: str
) -> RefreshResult:
    """Rebuild one segment's membership inside ``uow`` (one compiled evaluation)."""
    import time

    started = time.perf_counter()
    conn = uow.conn
    allow_hashing(conn)
    try:
        target = target_query(conn, seg, context(crm, conn))
    except UnavailableCondition as exc:
        log.info("segment %s (%s) skipped: %s", seg.id, seg.name, exc)
        return RefreshResult(seg.id, seg.name, skipped=str(exc))
    apply = _apply_full_postgresql if conn.dialect.name == "postgresql" else _apply_full_sqlite
    changes = apply(conn, seg.id, target, reason)
    entered = [cid for cid, ch in changes if ch == "entered"]
    left = [cid for cid, ch in changes if ch == "left"]
    size = conn.execute(
        sa.select(sa.func.count()).select_from(m).where(m.c.segment_id == seg.id)
    ).scalar_one()
    now = utcnow()
    conn.execute(s.update().where(s.c.id == seg.id).values(member_count=size, refreshed_at=now))
    conn.execute(
        tables.snapshots.insert().values(
            segment_id=seg.id,
            taken_at=now,
            size=size,
            entered=len(entered),
            left=len(left),
            drift={},
        )
    )
    if entered or left:
        uow.audit(
            "segment.refresh",
            "segment",
            seg.id,
            {"entered": len(entered), "left": len(left), "reason": reason},
        )
    _emit(uow, seg, entered, left, reason)
    return RefreshResult(
        seg.id,
        seg.name,
        len(entered),
        len(left),
        size,
        seconds=round(time.perf_counter() - started, 4),
    )


def refresh(
    crm: CRM,
    segment_ids: Iterable[int] | None = None,
    *,
    reason: str = "refresh",
    actor: Actor | None = None,
) -> list[RefreshResult]:
    """Refresh the given segments (all when None), one transaction each, dependencies first."""
    with crm.engine.connect() as conn:
        segments = catalog.dependency_order(catalog.load(crm, conn))
    wanted = None if segment_ids is None else with_dependents(segments, set(segment_ids))
    results = []
    for seg in segments:
        if wanted is not None and seg.id not in wanted:
            continue
        with crm.transaction(actor or Actor.system("segments refresh")) as uow:
            results.append(refresh_one(crm, uow, seg, reason))
    return results


QUERY_CACHE = "segments.event_queries"


def cached_target(
    crm: CRM, conn: sa.Connection, seg: catalog.StoredSegment, flags: tuple[bool, bool]
) -> tuple[Any, CompileContext]:
    """The segment's target query with the contact ids and relative times as parameters,
    built once per definition: building SQLAlchemy expressions costs more than running them
    for a handful of contacts."""
    cache: dict[Any, tuple[Any, CompileContext]] = crm.extensions.setdefault(QUERY_CACHE, {})
    key = (
        seg.id,
        seg.kind,
        json.dumps(seg.definition, sort_keys=True),
        flags,
        conn.dialect.name,
        tuple(sorted(crm.registry.contact_fields)),
    )
    if key not in cache:
        ctx = CompileContext(
            dialect=conn.dialect.name,
            now=utcnow(),
            contact_fields=dict(crm.registry.contact_fields),
            restrict_param=True,
        )
        query = target_query(conn, seg, ctx, flags)
        if len(cache) > 1000:
            cache.clear()
        cache[key] = (query, ctx)
    return cache[key]


def cached_union(
    crm: CRM,
    conn: sa.Connection,
    segments: list[catalog.StoredSegment],
    flags: dict[int, tuple[bool, bool]],
) -> tuple[Any, CompileContext, frozenset[int]] | None:
    """One ``UNION ALL`` of the segments' target queries (``segment_id, id`` rows) for the
    event path: one round trip for every segment instead of one each, built once per set of
    definitions. Returns the query, its context and the ids of the segments it evaluates
    (those with an unavailable condition are left out)."""
    if not segments:
        return None
    cache: dict[Any, Any] = crm.extensions.setdefault(QUERY_CACHE, {})
    # the catalog's stamp changes whenever a segment or a custom field does (load_cached)
    stamp = crm.extensions.get("segments.catalog", (None,))[0]
    key = (
        "union",
        stamp,
        tuple((seg.id, seg.kind, flags.get(seg.id)) for seg in segments),
        conn.dialect.name,
        tuple(sorted(crm.registry.contact_fields)),
    )
    if key not in cache:
        ctx = CompileContext(
            dialect=conn.dialect.name,
            now=utcnow(),
            contact_fields=dict(crm.registry.contact_fields),
            restrict_param=True,
        )
        parts, usable = [], set()
        for seg in segments:
            try:
                target = target_query(conn, seg, ctx, flags.get(seg.id, (False, False)))
            except UnavailableCondition:
                continue
            inner = target.subquery()
            parts.append(
                sa.select(sa.literal_column(str(int(seg.id))).label("segment_id"), inner.c.id)
            )
            usable.add(seg.id)
        if len(cache) > 1000:
            cache.clear()
        cache[key] = (sa.union_all(*parts) if parts else None, ctx, frozenset(usable))
    query, ctx, usable = cache[key]
    return None if query is None else (query, ctx, usable)


def with_dependents(segments: list[catalog.StoredSegment], ids: set[int]) -> set[int]:
    """``ids`` plus every segment that uses one of them ("member of segment"), transitively."""
    found = set(ids)
    changed = True
    while changed:
        changed = False
        for seg in segments:
            if seg.id not in found and seg.depends_on & found:
                found.add(seg.id)
                changed = True
    return found


def reevaluate(
    crm: CRM,
    contact_ids: Sequence[int],
    *,
    reason: str = "event",
    segment_ids: Iterable[int] | None = None,
    actor: Actor | None = None,
) -> dict[int, tuple[int, int]]:
    """Re-evaluate ``contact_ids`` against every dynamic segment (or ``segment_ids``) in one
    transaction; returns {segment_id: (entered, left)} for segments that changed."""
    ids = sorted(set(contact_ids))
    if not ids:
        return {}
    changed: dict[int, tuple[int, int]] = {}
    with crm.transaction(actor or Actor.system("segments events")) as uow:
        conn = uow.conn
        ctx = context(crm, conn, ids)
        stored = catalog.load_cached(crm, conn)
        if segment_ids is not None:
            wanted = set(segment_ids)
            stored = [seg for seg in stored if seg.id in wanted]
        segments = catalog.dependency_order(stored)
        now = ctx.now
        flags = all_override_flags(conn)
        current: dict[int, set[int]] = {}
        for segment_id, contact_id in conn.execute(
            sa.select(m.c.segment_id, m.c.contact_id).where(m.c.contact_id.in_(ids))
        ):
            current.setdefault(segment_id, set()).add(contact_id)
        candidates = [
            seg for seg in segments if segment_ids is not None or seg.kind == "dynamic"
        ]  # static lists change by hand, ML segments with their model
        # segments that use no other segment are evaluated together in one statement; those
        # that do ("member of segment X") afterwards, one by one, once X's members are written
        evaluated = {seg.id for seg in candidates}
        independent = [seg for seg in candidates if not (seg.depends_on & evaluated)]
        independent_ids = {seg.id for seg in independent}
        found: dict[int, set[int]] = {}
        union = cached_union(crm, conn, independent, flags)
        if union is not None:
            query, compiled, usable = union
            found = {segment_id: set() for segment_id in usable}
            for segment_id, contact_id in conn.execute(query, compiled.params(ids, now)):
                found[segment_id].add(contact_id)
        for seg in candidates:
            if seg.id in found:
                new = found[seg.id]
            elif seg.id in independent_ids:
                continue  # an unavailable condition: its members stay as they are
            else:
                try:
                    target, compiled = cached_target(
                        crm, conn, seg, flags.get(seg.id, (False, False))
                    )
                except UnavailableCondition:
                    continue
                new = set(conn.execute(target, compiled.params(ids, now)).scalars())
            old = current.get(seg.id, set())
            entered, left = sorted(new - old), sorted(old - new)
            if not entered and not left:
                continue
            if entered:
                conn.execute(
                    m.insert(),
                    [{"segment_id": seg.id, "contact_id": cid, "added_at": now} for cid in entered],
                )
            if left:
                conn.execute(m.delete().where(m.c.segment_id == seg.id, m.c.contact_id.in_(left)))
            conn.execute(
                h.insert(),
                [
                    {
                        "segment_id": seg.id,
                        "contact_id": cid,
                        "change": ch,
                        "reason": reason,
                        "occurred_at": now,
                    }
                    for ch, group in (("entered", entered), ("left", left))
                    for cid in group
                ],
            )
            conn.execute(
                s.update()
                .where(s.c.id == seg.id)
                .values(member_count=s.c.member_count + len(entered) - len(left))
            )
            _emit(uow, seg, entered, left, reason)
            changed[seg.id] = (len(entered), len(left))
        if changed:
            uow.audit(
                "segment.reevaluate",
                "segment",
                None,
                {
                    "contacts": len(ids),
                    "segments": {str(k): list(v) for k, v in changed.items()},
                    "reason": reason,
                },
            )
    return changed
