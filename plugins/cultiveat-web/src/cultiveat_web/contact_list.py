"""The contacts list query: seed 003's search and filters, 50 per page, set-based SQL.

Reads the core tables directly (plugins read freely, write through services). Plugin
``ContactField`` values become columns and, for numbers, range filters (a scoring plugin's
score gives the seed's "score range" without this module knowing it).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from cultiveat_core.db import tables
from cultiveat_core.domain import Actor, Contact
from cultiveat_core.errors import FieldError
from cultiveat_core.services.search import search_condition

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

PAGE_SIZE = 50
c = tables.contacts
ct = tables.contact_tags
t = tables.tags
MULTI_FILTERS = ("stage", "company", "type", "channel", "tag")


@attrs.frozen
class ListQuery:
    q: str = ""
    stage: tuple[str, ...] = ()
    company: tuple[str, ...] = ()
    type: tuple[str, ...] = ()
    channel: tuple[str, ...] = ()
    tag: tuple[str, ...] = ()
    created_from: date | None = None
    created_to: date | None = None
    ranges: Mapping[str, tuple[float | None, float | None]] = attrs.field(factory=dict)
    stale: bool = False
    page: int = 1

    def active(self) -> bool:
        return bool(
            self.q
            or any(getattr(self, f) for f in MULTI_FILTERS)
            or self.created_from
            or self.created_to
            or self.ranges
            or self.stale
        )


@attrs.frozen
class ListPage:
    contacts: list[Contact]
    total: int
    page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // PAGE_SIZE))


def visible_fields(crm: CRM, actor: Actor) -> list[Any]:
    return [
        f
        for f in crm.registry.contact_fields.values()
        if f.permission is None or actor.can(f.permission)
    ]


def _date(value: str, name: str, errors: list[FieldError]) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.append(FieldError(name, f"{value!r} is not a date; use YYYY-MM-DD"))
        return None


def _number(value: str, name: str, errors: list[FieldError]) -> float | None:
    if not value.strip():
        return None
    try:
        return float(value)
    except ValueError:
        errors.append(FieldError(name, f"{value!r} is not a number"))
        return None


def parse_query(params: Any, numeric_fields: Sequence[str]) -> tuple[ListQuery, list[FieldError]]:
    """Build the query from request parameters (``getall`` for multi-valued ones)."""
    errors: list[FieldError] = []

    def many(name: str) -> tuple[str, ...]:
        return tuple(
            dict.fromkeys(str(v).strip() for v in params.getall(name, []) if str(v).strip())
        )

    ranges: dict[str, tuple[float | None, float | None]] = {}
    for name in numeric_fields:
        low = _number(str(params.get(f"{name}_min") or ""), f"{name}_min", errors)
        high = _number(str(params.get(f"{name}_max") or ""), f"{name}_max", errors)
        if low is not None or high is not None:
            ranges[name] = (low, high)
    try:
        page = max(1, int(str(params.get("page") or "1")))
    except ValueError:
        page = 1
    query = ListQuery(
        q=str(params.get("q") or "").strip()[:200],
        **{name: many(name) for name in MULTI_FILTERS},
        created_from=_date(str(params.get("created_from") or ""), "created_from", errors),
        created_to=_date(str(params.get("created_to") or ""), "created_to", errors),
        ranges=ranges,
        stale=str(params.get("stale") or "") == "1",
        page=page,
    )
    return query, errors


def _in_ci(column: Any, values: Sequence[str]) -> Any:
    return sa.func.lower(column).in_([v.lower() for v in values])


def conditions(crm: CRM, query: ListQuery, fields: Mapping[str, Any], now: datetime) -> list[Any]:
    where: list[Any] = []
    if query.q:
        # the core's search document (trigram-indexed on both databases), as the API searches
        where.append(search_condition(crm.engine.dialect.name, query.q))
    for name in ("stage", "company", "type", "channel"):
        values = getattr(query, name)
        if values:
            where.append(_in_ci(c.c[name], values))
    if query.tag:
        where.append(
            sa.exists().where(
                ct.c.contact_id == c.c.id,
                ct.c.tag_id == t.c.id,
                t.c.name_key.in_([v.lower() for v in query.tag]),
            )
        )
    if query.created_from:
        where.append(
            c.c.created_at >= datetime.combine(query.created_from, datetime.min.time(), UTC)
        )
    if query.created_to:
        end = datetime.combine(query.created_to, datetime.min.time(), UTC) + timedelta(days=1)
        where.append(c.c.created_at < end)
    for name, (low, high) in query.ranges.items():
        expression = fields[name].expression(c)
        if low is not None:
            where.append(expression >= low)
        if high is not None:
            where.append(expression <= high)
    if query.stale:
        cutoff = now - timedelta(days=30)
        where.append(sa.func.coalesce(c.c.last_activity_at, c.c.created_at) < cutoff)
    return where


def run_query(crm: CRM, actor: Actor, query: ListQuery, now: datetime | None = None) -> ListPage:
    """One page of contacts (newest first) plus the total, in four queries."""
    crm.permissions.require(actor, "contacts.read")
    now = now or datetime.now(UTC)
    fields = {f.name: f for f in visible_fields(crm, actor)}
    where = conditions(crm, query, fields, now)
    with crm.engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(c).where(*where)).scalar_one()
        ids = (
            conn.execute(
                sa.select(c.c.id)
                .where(*where)
                .order_by(c.c.id.desc())
                .limit(PAGE_SIZE)
                .offset((query.page - 1) * PAGE_SIZE)
            )
            .scalars()
            .all()
        )
        contacts = crm.contacts.load(conn, ids)
    return ListPage(contacts=contacts, total=int(total), page=query.page)


def field_values(
    conn: sa.Connection, fields: Mapping[str, Any], ids: Sequence[int]
) -> dict[str, dict[int, Any]]:
    """Plugin field values of ``ids``, one query for all fields."""
    values: dict[str, dict[int, Any]] = {name: {} for name in fields}
    if ids and fields:
        columns = [f.expression(c).label(name) for name, f in fields.items()]
        for row in conn.execute(
            sa.select(c.c.id, *columns).where(c.c.id.in_(list(ids)))
        ).mappings():
            for name in fields:
                values[name][row["id"]] = row[name]
    return values


def export_rows(
    crm: CRM,
    actor: Actor,
    *,
    query: ListQuery | None = None,
    ids: Sequence[int] = (),
    limit: int = 1000,
) -> tuple[list[Contact], dict[str, dict[int, Any]]]:
    """Contacts to export: ``ids`` (a selection) or what ``query`` matches, at most ``limit``."""
    crm.permissions.require(actor, "contacts.export")
    fields = {f.name: f for f in visible_fields(crm, actor)}
    with crm.engine.connect() as conn:
        if query is not None:
            where = conditions(crm, query, fields, datetime.now(UTC))
            ids = (
                conn.execute(sa.select(c.c.id).where(*where).order_by(c.c.id.desc()).limit(limit))
                .scalars()
                .all()
            )
        contacts: list[Contact] = []
        values: dict[str, dict[int, Any]] = {name: {} for name in fields}
        for start in range(0, len(ids), 1000):
            chunk = list(ids[start : start + 1000])
            contacts += crm.contacts.load(conn, chunk)
            for name, found in field_values(conn, fields, chunk).items():
                values[name].update(found)
    return contacts, values


OPTIONS_TTL = 60.0
_options_cache: dict[int, tuple[float, dict[str, list[str]]]] = {}


def filter_options(crm: CRM) -> dict[str, list[str]]:
    """Distinct stages, types, channels and tags for the filters, cached for a minute per CRM
    (a DISTINCT over every contact on each page view would eat the page's time budget)."""
    cached = _options_cache.get(id(crm))
    if cached is not None and time.monotonic() - cached[0] < OPTIONS_TTL:
        return cached[1]
    with crm.engine.connect() as conn:
        options = {
            name: [
                v
                for v in conn.execute(
                    sa.select(c.c[name])
                    .where(c.c[name].is_not(None))
                    .distinct()
                    .order_by(c.c[name])
                    .limit(200)
                ).scalars()
                if v
            ]
            for name in ("stage", "type", "channel")
        }
        options["tag"] = list(
            conn.execute(sa.select(t.c.name).order_by(t.c.name).limit(500)).scalars()
        )
    _options_cache[id(crm)] = (time.monotonic(), options)
    return options


def companies_matching(crm: CRM, text: str, limit: int = 30) -> list[str]:
    """Company names containing ``text`` for the company filter's search box."""
    co = tables.companies
    query = sa.select(co.c.name).order_by(co.c.name_key).limit(limit)
    if text.strip():
        query = query.where(co.c.name_key.like(f"%{' '.join(text.lower().split())}%"))
    with crm.engine.connect() as conn:
        return list(conn.execute(query).scalars())
