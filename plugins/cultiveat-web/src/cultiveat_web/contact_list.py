"""The contacts list query: seed 003's search and filters, 50 per page, on the core's listing.

The filters become the core's listing parameters (``cultiveat_core.services.listing``: the
same conditions, sort and keyset cursors as ``GET /api/contacts``), so the page and the API
agree on what a filter means. Pages are keyset pages ("next" / "previous" links carrying a
cursor, no OFFSET); a filtered page counts its matches only up to ``COUNT_CAP`` (a bounded
``LIMIT`` subquery, never an exact count over every match), the unfiltered page shows the
core's kept contact counter. Sensitive fields are masked with the core's ``crm.fields_policy``
for roles without ``contacts.read_sensitive``. Plugin ``ContactField`` values become columns
and, for numbers, range filters (a scoring plugin's score gives the seed's "score range"
without this module knowing it).
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
from cultiveat_core.services import listing

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

PAGE_SIZE = 50
COUNT_CAP = 1000  # a filtered page says "1,000+" beyond this instead of counting every match
c = tables.contacts
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
    sort: str = ""
    cursor: str = ""  # the next page starts after this row (the core's cursor)
    before: str = ""  # the previous page ends before this row
    start: int = 1  # position of the page's first row, for "51-100" (display only)

    def active(self) -> bool:
        return bool(
            self.q
            or any(getattr(self, f) for f in MULTI_FILTERS)
            or self.created_from
            or self.created_to
            or self.ranges
            or self.stale
        )

    def listing_params(self) -> dict[str, Any]:
        """The core listing's parameters for these filters (``stale`` is the page's own)."""
        params: dict[str, Any] = {name: list(getattr(self, name)) for name in MULTI_FILTERS}
        params["q"] = self.q
        if self.created_from:
            params["created_from"] = self.created_from.isoformat()
        if self.created_to:
            params["created_to"] = self.created_to.isoformat()
        for name, (low, high) in self.ranges.items():
            if low is not None:
                params[f"{name}_min"] = str(low)
            if high is not None:
                params[f"{name}_max"] = str(high)
        return {k: v for k, v in params.items() if v}


@attrs.frozen
class ListPage:
    contacts: list[Contact]
    total: int  # exact when ``capped`` is False, else "at least this many"
    capped: bool
    start: int
    next_cursor: str | None
    previous_cursor: str | None
    counted: bool = True  # False: a filtered page that left counting to ``/contacts/count``

    @property
    def end(self) -> int:
        return self.start + len(self.contacts) - 1

    @property
    def total_label(self) -> str:
        return count_label(self.total, self.capped)


def count_label(total: int, capped: bool) -> str:
    return f"{total:,}+" if capped else f"{total:,}"


def visible_fields(crm: CRM, actor: Actor) -> list[Any]:
    return list(listing.visible_fields(crm, actor).values())


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
        number = float(value)
    except ValueError:
        errors.append(FieldError(name, f"{value!r} is not a number"))
        return None
    if number != number or number in (float("inf"), float("-inf")):
        errors.append(FieldError(name, "must be a finite number"))
        return None
    return number


def parse_query(params: Any, numeric_fields: Sequence[str]) -> tuple[ListQuery, list[FieldError]]:
    """Build the query from request parameters (``getall`` for multi-valued ones).

    A bad value is reported (shown next to the filters) and left out of the query."""
    errors: list[FieldError] = []

    def many(name: str) -> tuple[str, ...]:
        return tuple(
            dict.fromkeys(str(v).strip()[:200] for v in params.getall(name, []) if str(v).strip())
        )

    def one(name: str) -> str:
        return str(params.get(name) or "").strip()

    ranges: dict[str, tuple[float | None, float | None]] = {}
    for name in numeric_fields:
        low = _number(one(f"{name}_min"), f"{name}_min", errors)
        high = _number(one(f"{name}_max"), f"{name}_max", errors)
        if low is not None or high is not None:
            ranges[name] = (low, high)
    start = int(one("start")) if one("start").isdigit() and len(one("start")) < 9 else 1
    query = ListQuery(
        q=one("q")[:200],
        **{name: many(name) for name in MULTI_FILTERS},
        created_from=_date(one("created_from"), "created_from", errors),
        created_to=_date(one("created_to"), "created_to", errors),
        ranges=ranges,
        stale=one("stale") == "1",
        sort=one("sort")[:40],
        cursor=one("cursor")[:500],
        before=one("before")[:500] if not one("cursor") else "",
        start=max(1, start),
    )
    return query, errors


def stale_condition(now: datetime) -> Any:
    """No activity for 30 days, counting creation as activity (a contact added today is not
    stale); the same rule as the rows' marking (``formatting.is_stale``)."""
    return sa.func.coalesce(c.c.last_activity_at, c.c.created_at) < now - timedelta(days=30)


def where_clause(crm: CRM, actor: Actor, query: ListQuery, now: datetime) -> Any:
    """The core listing's conditions for the filters, plus the page's stale rule."""
    where = listing.parse_query(crm, actor, query.listing_params()).where()
    return sa.and_(where, stale_condition(now)) if query.stale else where


def masked(crm: CRM, actor: Actor, contacts: Sequence[Contact]) -> list[Contact]:
    """``contacts`` with the fields the core's field policy hides from ``actor`` masked."""
    policy = crm.fields_policy
    if policy.can_see(actor):
        return list(contacts)
    names = [n for n in policy.sensitive if n in attrs.fields_dict(Contact)]
    result = []
    for contact in contacts:
        shown = policy.mask(actor, {n: getattr(contact, n) for n in names})
        result.append(attrs.evolve(contact, **{n: shown[n] for n in names}))
    return result


def count_capped(conn: sa.Connection, where: Any, cap: int | None = None) -> tuple[int, bool]:
    """How many rows match, counting at most ``cap + 1`` of them (default ``COUNT_CAP``)."""
    cap = COUNT_CAP if cap is None else cap
    bounded = sa.select(c.c.id).where(where).limit(cap + 1).subquery()
    found = int(conn.execute(sa.select(sa.func.count()).select_from(bounded)).scalar_one())
    return min(found, cap), found > cap


def run_query(
    crm: CRM,
    actor: Actor,
    query: ListQuery,
    now: datetime | None = None,
    *,
    all_contacts: int | None = None,
    count: bool = True,
) -> ListPage:
    """One keyset page of contacts (newest first by default) and how many match.

    Queries: the page's ids (``PAGE_SIZE + 1`` rows along an index), the contacts with their
    tags, and the bounded count when filtered. Unfiltered, the total is ``all_contacts`` (the
    core's kept counter, which the page's KPI cards already read) or a count when not given.
    With ``count=False`` a filtered page does not count: the total is what the page shows
    ("50+" while there is a next page), and ``/contacts/count`` fills in the capped count."""
    crm.permissions.require(actor, "contacts.read")
    now = now or datetime.now(UTC)
    where = where_clause(crm, actor, query, now)
    _, expr, descending, nullable = listing.parse_sort(crm, actor, query.sort or None)
    backwards = bool(query.before)
    statement = sa.select(c.c.id, expr.label("sort_value")).where(where)
    cursor = query.before or query.cursor
    if cursor:
        value, id_ = listing.decode_cursor(cursor)
        # the previous page: the rows before the cursor, read in the opposite order
        statement = statement.where(
            listing.keyset_condition(expr, descending != backwards, nullable, value, id_)
        )
    statement = statement.order_by(
        *listing.order_by(expr, descending != backwards, nullable)
    ).limit(PAGE_SIZE + 1)
    with crm.engine.connect() as conn:
        rows = conn.execute(statement).all()
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        if backwards:
            rows.reverse()
        contacts = crm.contacts.load(conn, [r.id for r in rows])
        counted = True
        if not query.active():
            total, capped = _all_contacts(conn, all_contacts), False
        elif count:
            total, capped = count_capped(conn, where)
        else:
            total, capped, counted = 0, False, False
    if backwards:
        # rows before the cursor; more of them when the page came back full plus one
        start = max(2, query.start - PAGE_SIZE) if more else 1
        has_next, has_previous = True, more
    else:
        start = query.start if cursor else 1
        has_next, has_previous = more, bool(cursor)
    if not counted:
        # what this page proves: its rows and those before it, more if there is a next page
        total, capped = start - 1 + len(rows), has_next
    next_cursor = previous_cursor = None
    if rows and has_next:
        next_cursor = listing.encode_cursor(_cursor_value(rows[-1].sort_value), rows[-1].id)
    if rows and has_previous:
        previous_cursor = listing.encode_cursor(_cursor_value(rows[0].sort_value), rows[0].id)
    return ListPage(
        contacts=masked(crm, actor, contacts),
        total=total,
        capped=capped,
        start=start,
        next_cursor=next_cursor,
        previous_cursor=previous_cursor,
        counted=counted,
    )


def _cursor_value(value: Any) -> Any:
    return float(value) if hasattr(value, "is_finite") else value


def _all_contacts(conn: sa.Connection, known: int | None) -> int:
    if known is not None:
        return known
    return int(conn.execute(sa.select(sa.func.count()).select_from(c)).scalar_one())


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
            where = where_clause(crm, actor, query, datetime.now(UTC))
            ids = (
                conn.execute(sa.select(c.c.id).where(where).order_by(c.c.id.desc()).limit(limit))
                .scalars()
                .all()
            )
        contacts: list[Contact] = []
        values: dict[str, dict[int, Any]] = {name: {} for name in fields}
        for start in range(0, len(ids), 1000):
            chunk = list(ids[start : start + 1000])
            contacts += masked(crm, actor, crm.contacts.load(conn, chunk))
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
