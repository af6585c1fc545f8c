"""Segment definitions: the JSON document, parsed into typed nodes and checked.

A definition is a node::

    {"all": [node, ...]}   {"any": [node, ...]}   {"not": node}
    {"field": "company_size", "op": ">", "value": 100}          core column or ContactField
    {"custom": "plan", "op": "=", "value": "pro"}                 core_contacts.custom key
    {"tags": ["Enterprise", "CEO"], "match": "any|all|none"}    or {"tag": "Enterprise"}
    {"activity": "email_clicked", "within_days": 14, "min_count": 2, "max_count": 5}
    {"purchase": "total_spent", "op": ">=", "value": 1000, "within_days": 365}
    {"segment": 12}                                               member of segment 12
    {"preference": "preferred_channel", "op": "=", "value": "email"}
    {"preference": "interests", "op": "includes", "value": "analytics"}

Every problem is reported with the JSON path of the failing condition (``$.all[1].op``), and
conditions on fields a missing plugin would provide (``score`` without the scoring plugin)
are reported as *unavailable* rather than as mistakes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import attrs

from cultiveat_core.errors import FieldError
from cultiveat_segments.operators import SegmentOperator, when

COLUMN_TYPES: dict[str, str] = {
    **{
        n: "text"
        for n in (
            "email",
            "first_name",
            "last_name",
            "phone",
            "position",
            "company",
            "industry",
            "stage",
            "type",
            "channel",
            "address_street",
            "address_city",
            "address_state",
            "address_zip",
            "address_country",
        )
    },
    **{n: "number" for n in ("id", "company_size", "owner_id", "company_id")},
    **{n: "date" for n in ("created_at", "updated_at", "last_activity_at")},
}
# Fields other plugins provide as ContactFields; without the plugin they are unavailable.
PLUGIN_FIELDS = {
    "score": "scoring",
    "engagement_percent": "scoring",
    "fit": "scoring",
    "hot": "scoring",
}
PURCHASE_METRICS = (
    "total_spent",
    "purchase_count",
    "average_order_value",
    "days_since_last_purchase",
)
PURCHASE_OPS = (">", ">=", "<", "<=")
PREFERENCE_TEXT = ("preferred_channel", "frequency")
PREFERENCE_LISTS = ("interests", "topics")
TAG_MATCH = ("any", "all", "none")
CUSTOM_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_DEPTH = 12
MAX_CONDITIONS = 200
MAX_DAYS = 36500


@attrs.frozen
class All:
    path: str
    children: tuple[Any, ...]


@attrs.frozen
class AnyOf:
    path: str
    children: tuple[Any, ...]


@attrs.frozen
class Not:
    path: str
    child: Any


@attrs.frozen
class FieldCondition:
    """``source``: column, contact_field, custom or preference; ``type`` of the compared value."""

    path: str
    source: str
    name: str
    type: str
    op: SegmentOperator
    value: Any


@attrs.frozen
class TagCondition:
    path: str
    tags: tuple[str, ...]
    match: str


@attrs.frozen
class ActivityCondition:
    path: str
    types: tuple[str, ...]
    within_days: float | None
    min_count: int
    max_count: int | None


@attrs.frozen
class PurchaseCondition:
    path: str
    metric: str
    op: str
    value: float
    within_days: float | None


@attrs.frozen
class SegmentCondition:
    path: str
    segment_id: int


@attrs.frozen
class PreferenceListCondition:
    path: str
    name: str
    includes: bool
    value: str


@attrs.frozen
class Unavailable:
    path: str
    reason: str


@attrs.frozen
class Vocabulary:
    """What a definition may name: built from the running CRM's registry."""

    contact_fields: Mapping[str, Any]
    operators: Mapping[tuple[str, str], SegmentOperator]
    activity_types: frozenset[str]
    segment_exists: Callable[[int], bool] = attrs.field(eq=False)
    # declared custom fields (core_custom_fields) -> the compared type: text, number or bool
    custom_types: Mapping[str, str] = attrs.field(factory=dict)

    def operator_names(self, kind: str) -> list[str]:
        return sorted(name for (t, name) in self.operators if t == kind)


@attrs.frozen
class Analysis:
    node: Any
    errors: tuple[FieldError, ...]
    unavailable: tuple[Unavailable, ...]
    segment_refs: frozenset[int]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def usable(self) -> bool:
        return not self.errors and not self.unavailable

    def as_dict(self) -> dict[str, Any]:
        return {
            "valid": self.ok,
            "errors": [e.as_dict() for e in self.errors],
            "unavailable": [{"field": u.path, "message": u.reason} for u in self.unavailable],
        }


class _Parser:
    def __init__(self, vocab: Vocabulary) -> None:
        self.vocab = vocab
        self.errors: list[FieldError] = []
        self.unavailable: list[Unavailable] = []
        self.refs: set[int] = set()
        self.count = 0

    def fail(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path, message))

    def node(self, raw: Any, path: str, depth: int) -> Any:
        if depth > MAX_DEPTH:
            self.fail(path, f"nested more than {MAX_DEPTH} groups deep; flatten the definition")
            return None
        if not isinstance(raw, Mapping):
            self.fail(
                path,
                'must be an object: a group ({"all"|"any": [...]}, {"not": ...}) or a condition',
            )
            return None
        groups = [k for k in ("all", "any", "not") if k in raw]
        if groups:
            if len(raw) != 1:
                self.fail(
                    path,
                    f"a group has exactly one key ({groups[0]!r}); move other keys into a "
                    "condition",
                )
                return None
            key = groups[0]
            if key == "not":
                child = self.node(raw["not"], f"{path}.not", depth + 1)
                return Not(path, child) if child is not None else None
            items = raw[key]
            if not isinstance(items, list):
                self.fail(f"{path}.{key}", "must be a list of conditions or groups")
                return None
            children = [
                self.node(item, f"{path}.{key}[{i}]", depth + 1) for i, item in enumerate(items)
            ]
            kept = tuple(c for c in children if c is not None)
            return (All if key == "all" else AnyOf)(path, kept)
        self.count += 1
        if self.count > MAX_CONDITIONS:
            if self.count == MAX_CONDITIONS + 1:
                self.fail(path, f"more than {MAX_CONDITIONS} conditions; split the segment")
            return None
        for key, handler in (
            ("field", self.field),
            ("custom", self.custom),
            ("tags", self.tags),
            ("tag", self.tags),
            ("activity", self.activity),
            ("purchase", self.purchase),
            ("segment", self.segment),
            ("preference", self.preference),
        ):
            if key in raw:
                return handler(raw, path)
        self.fail(
            path,
            "unknown condition; use one of the keys field, custom, tags, activity, purchase, "
            "segment, preference (or a group: all, any, not)",
        )
        return None

    def _unknown_keys(self, raw: Mapping[str, Any], path: str, allowed: set[str]) -> bool:
        extra = sorted(set(raw) - allowed)
        for key in extra:
            self.fail(
                f"{path}.{key}", f"unknown key; this condition takes: {', '.join(sorted(allowed))}"
            )
        return bool(extra)

    def _compare(
        self, raw: Mapping[str, Any], path: str, kind: str
    ) -> tuple[SegmentOperator, Any] | None:
        name = raw.get("op")
        op = self.vocab.operators.get((kind, name)) if isinstance(name, str) else None
        if op is None:
            self.fail(
                f"{path}.op",
                f"{name!r} is not an operator for a {kind} field; use one of: "
                + ", ".join(self.vocab.operator_names(kind)),
            )
            return None
        value = self._value(raw.get("value"), f"{path}.value", kind, op)
        return None if value is _BAD else (op, value)

    def _value(self, value: Any, path: str, kind: str, op: SegmentOperator) -> Any:
        if op.value == "none":
            if value is not None:
                self.fail(path, f"operator {op.name!r} takes no value; remove it")
                return _BAD
            return None
        if op.value == "days":
            if not _is_number(value) or not 0 < value <= MAX_DAYS:
                self.fail(
                    path, f"operator {op.name!r} needs a number of days between 1 and {MAX_DAYS}"
                )
                return _BAD
            return value
        if op.value == "pair":
            if (
                not isinstance(value, list)
                or len(value) != 2
                or not all(_is_number(v) for v in value)
                or value[0] > value[1]
            ):
                self.fail(path, f"operator {op.name!r} needs [low, high] numbers with low <= high")
                return _BAD
            return tuple(value)
        if op.value == "list":
            if not isinstance(value, list) or not value or len(value) > 1000:
                self.fail(
                    path, f"operator {op.name!r} needs a non-empty list (at most 1000 values)"
                )
                return _BAD
            checked = [self._scalar(v, f"{path}[{i}]", kind) for i, v in enumerate(value)]
            return _BAD if any(v is _BAD for v in checked) else tuple(checked)
        return self._scalar(value, path, kind)

    def _scalar(self, value: Any, path: str, kind: str) -> Any:
        if kind == "number" and _is_number(value):
            return value
        if kind == "text" and isinstance(value, str) and len(value) <= 500:
            return value
        if kind == "date" and isinstance(value, str):
            try:
                when(value)
                return value
            except ValueError:
                pass
        expected = {
            "number": "a number",
            "text": "a text of at most 500 characters",
            "date": "an ISO date such as 2024-01-15",
            "bool": "no value",
        }[kind]
        self.fail(path, f"must be {expected}")
        return _BAD

    def field(self, raw: Mapping[str, Any], path: str) -> Any:
        if self._unknown_keys(raw, path, {"field", "op", "value"}):
            return None
        name = raw["field"]
        if not isinstance(name, str):
            self.fail(f"{path}.field", "must be a field name")
            return None
        if name in COLUMN_TYPES:
            source, kind = "column", COLUMN_TYPES[name]
        elif name in self.vocab.contact_fields:
            source, kind = (
                "contact_field",
                str(getattr(self.vocab.contact_fields[name], "type", "number")),
            )
            if kind not in ("text", "number", "date", "bool"):
                kind = "number"
        elif name in PLUGIN_FIELDS:
            self.unavailable.append(
                Unavailable(
                    f"{path}.field",
                    f"field {name!r} is provided by the {PLUGIN_FIELDS[name]} plugin, which is "
                    f"not installed; this condition cannot be evaluated until it is",
                )
            )
            return Unavailable(path, name)
        else:
            known = sorted([*COLUMN_TYPES, *self.vocab.contact_fields])
            self.fail(
                f"{path}.field",
                f"unknown field {name!r}; known fields: {', '.join(known)}"
                ' (custom fields use {"custom": key})',
            )
            return None
        compared = self._compare(raw, path, kind)
        if compared is None:
            return None
        return FieldCondition(path, source, name, kind, compared[0], compared[1])

    def custom(self, raw: Mapping[str, Any], path: str) -> Any:
        if self._unknown_keys(raw, path, {"custom", "op", "value", "type"}):
            return None
        key = raw["custom"]
        if not isinstance(key, str) or not CUSTOM_KEY.match(key):
            self.fail(
                f"{path}.custom", "must be a custom field key: letters, digits and _, at most 64"
            )
            return None
        kind = raw.get("type") or self.vocab.custom_types.get(key)
        if kind is None:
            value = raw.get("value")
            sample = value[0] if isinstance(value, list) and value else value
            kind = (
                "number" if _is_number(sample) else "bool" if isinstance(sample, bool) else "text"
            )
            if raw.get("op") in ("is_true", "is_false"):
                kind = "bool"
        if kind not in ("text", "number", "bool"):
            self.fail(f"{path}.type", "custom field type must be text, number or bool")
            return None
        compared = self._compare(raw, path, kind)
        if compared is None:
            return None
        return FieldCondition(path, "custom", key, kind, compared[0], compared[1])

    def tags(self, raw: Mapping[str, Any], path: str) -> Any:
        if self._unknown_keys(raw, path, {"tag", "tags", "match"}):
            return None
        names = [raw["tag"]] if "tag" in raw else raw.get("tags")
        key = "tag" if "tag" in raw else "tags"
        if (
            not isinstance(names, list)
            or not names
            or not all(isinstance(n, str) and 0 < len(n.strip()) <= 30 for n in names)
        ):
            self.fail(
                f"{path}.{key}",
                "must be a tag name or a non-empty list of tag names (1-30 characters)",
            )
            return None
        match = raw.get("match", "any")
        if match not in TAG_MATCH:
            self.fail(f"{path}.match", f"must be one of: {', '.join(TAG_MATCH)}")
            return None
        keys = tuple(sorted({n.strip().lower() for n in names}))
        return TagCondition(path, keys, match)

    def activity(self, raw: Mapping[str, Any], path: str) -> Any:
        if self._unknown_keys(raw, path, {"activity", "within_days", "min_count", "max_count"}):
            return None
        kinds = raw["activity"]
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not isinstance(kinds, list) or not kinds or not all(isinstance(k, str) for k in kinds):
            self.fail(f"{path}.activity", "must be an activity type or a list of them")
            return None
        unknown = [k for k in kinds if k not in self.vocab.activity_types]
        if unknown:
            self.fail(
                f"{path}.activity",
                f"unknown activity type {unknown[0]!r}; known types: "
                + ", ".join(sorted(self.vocab.activity_types)),
            )
            return None
        within = raw.get("within_days")
        if within is not None and (not _is_number(within) or not 0 < within <= MAX_DAYS):
            self.fail(f"{path}.within_days", f"must be a number of days between 1 and {MAX_DAYS}")
            return None
        low, high = raw.get("min_count", 1), raw.get("max_count")
        if not _is_count(low):
            self.fail(f"{path}.min_count", "must be a whole number >= 0")
            return None
        if high is not None and (not _is_count(high) or high < low):
            self.fail(f"{path}.max_count", "must be a whole number >= min_count")
            return None
        if low == 0 and high is None:
            self.fail(
                f"{path}.min_count",
                "min_count 0 without max_count matches everyone; "
                "give max_count (e.g. 0 for 'never')",
            )
            return None
        return ActivityCondition(
            path, tuple(sorted(set(kinds))), within, int(low), None if high is None else int(high)
        )

    def purchase(self, raw: Mapping[str, Any], path: str) -> Any:
        if self._unknown_keys(raw, path, {"purchase", "op", "value", "within_days"}):
            return None
        metric = raw["purchase"]
        if metric not in PURCHASE_METRICS:
            self.fail(
                f"{path}.purchase",
                f"unknown purchase metric {metric!r}; use one of: " + ", ".join(PURCHASE_METRICS),
            )
            return None
        op = raw.get("op")
        if op not in PURCHASE_OPS:
            self.fail(f"{path}.op", f"must be one of: {', '.join(PURCHASE_OPS)}")
            return None
        value = raw.get("value")
        if not _is_number(value) or value < 0:
            self.fail(f"{path}.value", "must be a number >= 0")
            return None
        within = raw.get("within_days")
        if within is not None and (not _is_number(within) or not 0 < within <= MAX_DAYS):
            self.fail(f"{path}.within_days", f"must be a number of days between 1 and {MAX_DAYS}")
            return None
        return PurchaseCondition(path, metric, op, float(value), within)

    def segment(self, raw: Mapping[str, Any], path: str) -> Any:
        if self._unknown_keys(raw, path, {"segment"}):
            return None
        segment_id = raw["segment"]
        if not _is_count(segment_id) or not self.vocab.segment_exists(int(segment_id)):
            self.fail(
                f"{path}.segment",
                f"no segment with id {segment_id!r}; give an existing segment's id",
            )
            return None
        self.refs.add(int(segment_id))
        return SegmentCondition(path, int(segment_id))

    def preference(self, raw: Mapping[str, Any], path: str) -> Any:
        if self._unknown_keys(raw, path, {"preference", "op", "value"}):
            return None
        name = raw["preference"]
        if name in PREFERENCE_LISTS:
            op, value = raw.get("op"), raw.get("value")
            if op not in ("includes", "excludes"):
                self.fail(f"{path}.op", "must be includes or excludes for a list preference")
                return None
            if not isinstance(value, str) or not value.strip() or len(value) > 100:
                self.fail(
                    f"{path}.value", "must be one interest or topic (text, at most 100 characters)"
                )
                return None
            return PreferenceListCondition(path, name, op == "includes", value.strip().lower())
        if name not in PREFERENCE_TEXT:
            self.fail(
                f"{path}.preference",
                "unknown preference; use one of: "
                + ", ".join((*PREFERENCE_TEXT, *PREFERENCE_LISTS)),
            )
            return None
        compared = self._compare(raw, path, "text")
        if compared is None:
            return None
        return FieldCondition(path, "preference", name, "text", compared[0], compared[1])


_BAD = object()


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def analyse(definition: Any, vocab: Vocabulary) -> Analysis:
    """Parse and check ``definition``; never raises for bad input, it reports it."""
    parser = _Parser(vocab)
    node = parser.node(definition, "$", 0)
    return Analysis(node, tuple(parser.errors), tuple(parser.unavailable), frozenset(parser.refs))


def describe_value(value: Any) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    return str(value)
