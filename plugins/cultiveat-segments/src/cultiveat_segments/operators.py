"""Comparison operators of segment conditions, and the ones this plugin registers itself.

An operator says which field types it applies to, what value it takes, the SQL it compiles to
and the same test in Python (the reference evaluator and ``api.matches`` explanations use it).
``sql(expr, value, ctx)`` only sees non-NULL field values: the compiler wraps it so a missing
value gives ``null_result`` (False for "=", True for "!=") and every condition stays two-valued,
which keeps ``not`` exact. Plugins add operators through ``register_segment_operators``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import sqlalchemy as sa

from cultiveat_core.db.metadata import UTCDateTime

TYPES = ("text", "number", "date", "bool")
VALUE_KINDS = ("none", "one", "list", "pair", "days")


@attrs.frozen(kw_only=True)
class SegmentOperator:
    """``sql(expr, value, ctx) -> clause`` and ``python(field_value, value, now) -> bool``.

    ``types``: field types it applies to; ``value``: "none", "one" (one value of the field's
    type), "list" (a non-empty list of them), "pair" ([low, high] numbers) or "days" (a whole
    number of days > 0); ``null_result``: the answer for a contact without a value, or None
    when the operator handles missing values itself (``is_empty``).
    """

    name: str
    label: str
    types: tuple[str, ...]
    sql: Callable[[Any, Any, Any], Any] = attrs.field(eq=False)
    python: Callable[[Any, Any, datetime], bool] = attrs.field(eq=False)
    value: str = "one"
    null_result: bool | None = False
    description: str = ""


def _lower(value: Any) -> str:
    return str(value).lower()


def when(value: Any) -> datetime:
    """An ISO date/time (or datetime) as an aware UTC datetime."""
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _time(value: datetime) -> Any:
    return sa.bindparam(None, value, type_=UTCDateTime())


def _days_ago(now: datetime, days: Any) -> datetime:
    return now - timedelta(days=float(days))


def _num(x: Any) -> float:
    return float(x)


def _text_ops() -> list[SegmentOperator]:
    low = sa.func.lower
    return [
        SegmentOperator(
            name="=",
            label="is",
            types=("text",),
            sql=lambda e, v, ctx: low(e) == _lower(v),
            python=lambda x, v, now: _lower(x) == _lower(v),
        ),
        SegmentOperator(
            name="!=",
            label="is not",
            types=("text",),
            null_result=True,
            sql=lambda e, v, ctx: low(e) != _lower(v),
            python=lambda x, v, now: _lower(x) != _lower(v),
        ),
        SegmentOperator(
            name="in",
            label="is one of",
            types=("text",),
            value="list",
            sql=lambda e, v, ctx: low(e).in_([_lower(i) for i in v]),
            python=lambda x, v, now: _lower(x) in {_lower(i) for i in v},
        ),
        SegmentOperator(
            name="not_in",
            label="is none of",
            types=("text",),
            value="list",
            null_result=True,
            sql=lambda e, v, ctx: low(e).not_in([_lower(i) for i in v]),
            python=lambda x, v, now: _lower(x) not in {_lower(i) for i in v},
        ),
        SegmentOperator(
            name="contains",
            label="contains",
            types=("text",),
            sql=lambda e, v, ctx: low(e).contains(_lower(v), autoescape=True),
            python=lambda x, v, now: _lower(v) in _lower(x),
        ),
        SegmentOperator(
            name="not_contains",
            label="does not contain",
            types=("text",),
            null_result=True,
            sql=lambda e, v, ctx: sa.not_(low(e).contains(_lower(v), autoescape=True)),
            python=lambda x, v, now: _lower(v) not in _lower(x),
        ),
        SegmentOperator(
            name="starts_with",
            label="starts with",
            types=("text",),
            sql=lambda e, v, ctx: low(e).startswith(_lower(v), autoescape=True),
            python=lambda x, v, now: _lower(x).startswith(_lower(v)),
        ),
        SegmentOperator(
            name="ends_with",
            label="ends with",
            types=("text",),
            sql=lambda e, v, ctx: low(e).endswith(_lower(v), autoescape=True),
            python=lambda x, v, now: _lower(x).endswith(_lower(v)),
        ),
        SegmentOperator(
            name="is_empty",
            label="is empty",
            types=("text",),
            value="none",
            null_result=True,
            sql=lambda e, v, ctx: e == "",
            python=lambda x, v, now: x == "",
        ),
        SegmentOperator(
            name="is_not_empty",
            label="is not empty",
            types=("text",),
            value="none",
            sql=lambda e, v, ctx: e != "",
            python=lambda x, v, now: x != "",
        ),
    ]


def _number_ops() -> list[SegmentOperator]:
    return [
        SegmentOperator(
            name="=",
            label="=",
            types=("number",),
            sql=lambda e, v, ctx: e == v,
            python=lambda x, v, now: _num(x) == _num(v),
        ),
        SegmentOperator(
            name="!=",
            label="≠",
            types=("number",),
            null_result=True,
            sql=lambda e, v, ctx: e != v,
            python=lambda x, v, now: _num(x) != _num(v),
        ),
        SegmentOperator(
            name=">",
            label=">",
            types=("number",),
            sql=lambda e, v, ctx: e > v,
            python=lambda x, v, now: _num(x) > _num(v),
        ),
        SegmentOperator(
            name=">=",
            label="≥",
            types=("number",),
            sql=lambda e, v, ctx: e >= v,
            python=lambda x, v, now: _num(x) >= _num(v),
        ),
        SegmentOperator(
            name="<",
            label="<",
            types=("number",),
            sql=lambda e, v, ctx: e < v,
            python=lambda x, v, now: _num(x) < _num(v),
        ),
        SegmentOperator(
            name="<=",
            label="≤",
            types=("number",),
            sql=lambda e, v, ctx: e <= v,
            python=lambda x, v, now: _num(x) <= _num(v),
        ),
        SegmentOperator(
            name="between",
            label="between",
            types=("number",),
            value="pair",
            sql=lambda e, v, ctx: sa.and_(e >= v[0], e <= v[1]),
            python=lambda x, v, now: _num(v[0]) <= _num(x) <= _num(v[1]),
        ),
        SegmentOperator(
            name="in",
            label="is one of",
            types=("number",),
            value="list",
            sql=lambda e, v, ctx: e.in_(list(v)),
            python=lambda x, v, now: _num(x) in {_num(i) for i in v},
        ),
        SegmentOperator(
            name="not_in",
            label="is none of",
            types=("number",),
            value="list",
            null_result=True,
            sql=lambda e, v, ctx: e.not_in(list(v)),
            python=lambda x, v, now: _num(x) not in {_num(i) for i in v},
        ),
        SegmentOperator(
            name="is_empty",
            label="is empty",
            types=("number", "date"),
            value="none",
            null_result=True,
            sql=lambda e, v, ctx: sa.false(),
            python=lambda x, v, now: False,
        ),
        SegmentOperator(
            name="is_not_empty",
            label="is not empty",
            types=("number", "date"),
            value="none",
            sql=lambda e, v, ctx: sa.true(),
            python=lambda x, v, now: True,
        ),
    ]


def _date_ops() -> list[SegmentOperator]:
    return [
        SegmentOperator(
            name="before",
            label="before",
            types=("date",),
            sql=lambda e, v, ctx: e < _time(when(v)),
            python=lambda x, v, now: x < when(v),
        ),
        SegmentOperator(
            name="after",
            label="after",
            types=("date",),
            sql=lambda e, v, ctx: e > _time(when(v)),
            python=lambda x, v, now: x > when(v),
        ),
        SegmentOperator(
            name="within_last_days",
            label="in the last N days",
            types=("date",),
            value="days",
            sql=lambda e, v, ctx: e >= ctx.ago(timedelta(days=float(v))),
            python=lambda x, v, now: x >= _days_ago(now, v),
        ),
        SegmentOperator(
            name="more_than_days_ago",
            label="more than N days ago",
            types=("date",),
            value="days",
            sql=lambda e, v, ctx: e < ctx.ago(timedelta(days=float(v))),
            python=lambda x, v, now: x < _days_ago(now, v),
        ),
    ]


def _bool_ops() -> list[SegmentOperator]:
    return [
        SegmentOperator(
            name="is_true",
            label="is yes",
            types=("bool",),
            value="none",
            sql=lambda e, v, ctx: e == sa.true(),
            python=lambda x, v, now: bool(x),
        ),
        SegmentOperator(
            name="is_false",
            label="is no",
            types=("bool",),
            value="none",
            null_result=True,
            sql=lambda e, v, ctx: e == sa.false(),
            python=lambda x, v, now: not bool(x),
        ),
    ]


# Seed 003 "Position = C-Level": titles a board would call C-level.
C_LEVEL_TITLES = (
    "ceo",
    "cto",
    "cfo",
    "coo",
    "cmo",
    "cio",
    "cso",
    "cpo",
    "cro",
    "chro",
    "cdo",
    "ciso",
    "founder",
    "co-founder",
    "president",
    "owner",
    "managing director",
)


def _is_c_level_sql(e: Any, v: Any, ctx: Any) -> Any:
    title = sa.func.lower(sa.func.trim(e))
    return sa.or_(
        title.in_(C_LEVEL_TITLES),
        title.startswith("chief "),
        title.startswith("ceo "),
        title.startswith("founder "),
    )


def _is_c_level(x: Any, v: Any, now: datetime) -> bool:
    title = str(x).strip().lower()
    return title in C_LEVEL_TITLES or title.startswith(("chief ", "ceo ", "founder "))


C_LEVEL = SegmentOperator(
    name="is_c_level",
    label="is C-level",
    types=("text",),
    value="none",
    sql=_is_c_level_sql,
    python=_is_c_level,
    description="CEO, CTO, CFO, COO, CMO, CIO..., 'Chief ...', founder, president, owner",
)


def builtin_operators() -> list[SegmentOperator]:
    return [*_text_ops(), *_number_ops(), *_date_ops(), *_bool_ops(), C_LEVEL]


def operator_table(operators: list[SegmentOperator]) -> dict[tuple[str, str], SegmentOperator]:
    """(field type, operator name) -> operator; a name may exist for several types."""
    table: dict[tuple[str, str], SegmentOperator] = {}
    for op in operators:
        for kind in op.types:
            table[(kind, op.name)] = op
    return table
