"""Validate a rule-set document and fill in defaults; every error says what to fix."""

from __future__ import annotations

import copy
import re
from collections.abc import Collection, Mapping
from typing import Any

from cultiveat_core.errors import FieldError, ValidationError

CONTACT_FIELDS = (
    "position",
    "industry",
    "company",
    "company_size",
    "stage",
    "type",
    "channel",
    "address_country",
    "address_city",
    "address_state",
)
NUMERIC_FIELDS = ("company_size",)
TEXT_OPS = ("has_words", "equals", "contains", "is_set")
NUMBER_OPS = ("gte", "lte", "between", "is_set")
PROPERTY_OPS = ("equals", "contains", "in")
RULE_TYPES = ("field", "activity", "activity_count", "condition")
DECAY_MODES = ("none", "half_life", "window")
PARTS = ("fit", "engagement")
URGENCIES = ("24hrs", "48hrs", "1 week")
SIGNALS = ("demo_request", "pricing_visits", "activity_spike", "high_engagement")
ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
MAX_POINTS = 1000.0


class _Errors:
    def __init__(self) -> None:
        self.items: list[FieldError] = []

    def add(self, field: str, message: str) -> None:
        self.items.append(FieldError(field, message))


def _number(
    doc: Mapping[str, Any],
    key: str,
    where: str,
    errors: _Errors,
    *,
    low: float,
    high: float,
    required: bool = True,
    default: Any = None,
) -> Any:
    value = doc.get(key, default)
    if value is None:
        if required:
            errors.add(f"{where}{key}", f"is required: a number from {low:g} to {high:g}")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        errors.add(f"{where}{key}", f"must be a number from {low:g} to {high:g} (got {value!r})")
        return None
    return value


def _string_list(value: Any, field: str, errors: _Errors) -> list[str]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str) and v.strip() for v in value)
    ):
        errors.add(field, "must be a non-empty list of non-empty strings")
        return []
    return [v.strip() for v in value]


def _check_field_rule(rule: dict[str, Any], where: str, errors: _Errors) -> None:
    field = rule.get("field")
    is_custom = isinstance(field, str) and field.startswith("custom.") and len(field) > 7
    if field not in CONTACT_FIELDS and not is_custom:
        errors.add(
            f"{where}field",
            f"unknown contact field {field!r}; use one of {', '.join(CONTACT_FIELDS)} "
            "or custom.<key>",
        )
        return
    ops = NUMBER_OPS if field in NUMERIC_FIELDS else TEXT_OPS
    choices = rule.get("choices")
    if not isinstance(choices, list) or not choices:
        errors.add(
            f"{where}choices",
            "must be a non-empty list of {label, op, values|value, points}; "
            "the first matching choice gives its points",
        )
        return
    for i, choice in enumerate(choices):
        at = f"{where}choices[{i}]."
        if not isinstance(choice, dict):
            errors.add(at.rstrip("."), "must be an object {label, op, values|value, points}")
            continue
        choice.setdefault("label", f"choice {i + 1}")
        op = choice.get("op")
        if op not in ops:
            errors.add(
                f"{at}op", f"unknown operator {op!r} for {field}; use one of {', '.join(ops)}"
            )
        elif op in ("has_words", "equals", "contains"):
            choice["values"] = _string_list(choice.get("values"), f"{at}values", errors)
        elif op in ("gte", "lte"):
            _number(choice, "value", at, errors, low=-1e12, high=1e12)
        elif op == "between":
            bounds = choice.get("values")
            if (
                not isinstance(bounds, list)
                or len(bounds) != 2
                or not all(isinstance(b, int | float) and not isinstance(b, bool) for b in bounds)
                or bounds[0] > bounds[1]
            ):
                errors.add(f"{at}values", "must be [low, high] numbers with low <= high")
        _number(choice, "points", at, errors, low=-MAX_POINTS, high=MAX_POINTS)
    if rule.get("otherwise") is not None:
        _number(rule, "otherwise", where, errors, low=-MAX_POINTS, high=MAX_POINTS)
    else:
        rule["otherwise"] = None


def _check_activity_part(
    rule: dict[str, Any], where: str, errors: _Errors, known_types: Collection[str]
) -> None:
    types = _string_list(rule.get("activity_types"), f"{where}activity_types", errors)
    rule["activity_types"] = types
    unknown = [t for t in types if known_types and t not in known_types]
    if unknown:
        errors.add(
            f"{where}activity_types",
            f"unknown activity type(s) {', '.join(unknown)}; known types: "
            + ", ".join(sorted(known_types)),
        )
    conditions = rule.setdefault("where", [])
    if not isinstance(conditions, list):
        errors.add(f"{where}where", "must be a list of {property, op, value}")
        rule["where"] = []
        return
    for i, cond in enumerate(conditions):
        at = f"{where}where[{i}]."
        if not isinstance(cond, dict):
            errors.add(at.rstrip("."), "must be an object {property, op, value}")
            continue
        prop = cond.get("property")
        if not isinstance(prop, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", prop):
            errors.add(
                f"{at}property", "must name a key of the activity's data, e.g. url or content_type"
            )
        op = cond.get("op")
        if op not in PROPERTY_OPS:
            errors.add(f"{at}op", f"unknown operator {op!r}; use one of {', '.join(PROPERTY_OPS)}")
        elif op == "in":
            cond["value"] = _string_list(cond.get("value"), f"{at}value", errors)
        elif not isinstance(cond.get("value"), str) or not cond["value"]:
            errors.add(f"{at}value", "must be a non-empty string to compare with")


def _check_rule(
    rule: Any,
    index: int,
    errors: _Errors,
    groups: Mapping[str, str],
    known_types: Collection[str],
    conditions: Mapping[str, Any],
) -> None:
    where = f"rules[{index}]."
    if not isinstance(rule, dict):
        errors.add(f"rules[{index}]", "must be an object with id, type, group and points")
        return
    rule_id = rule.get("id")
    if not isinstance(rule_id, str) or not ID_PATTERN.match(rule_id):
        errors.add(
            f"{where}id",
            "must be lower-case letters, digits and _ (starting with a letter), "
            "at most 63 characters, e.g. pricing_page_visit",
        )
    rule.setdefault("label", rule_id if isinstance(rule_id, str) else "")
    if rule.get("group") not in groups:
        errors.add(
            f"{where}group",
            f"unknown group {rule.get('group')!r}; declared groups: {', '.join(groups)}",
        )
    kind = rule.get("type")
    if kind not in RULE_TYPES:
        errors.add(
            f"{where}type", f"unknown rule type {kind!r}; use one of {', '.join(RULE_TYPES)}"
        )
        return
    if kind == "field":
        _check_field_rule(rule, where, errors)
        return
    _number(rule, "points", where, errors, low=-MAX_POINTS, high=MAX_POINTS)
    if kind == "condition":
        name = rule.get("condition")
        if name not in conditions:
            errors.add(
                f"{where}condition",
                f"unknown condition {name!r}; available: {', '.join(sorted(conditions))}",
            )
            return
        params = rule.setdefault("params", {})
        if not isinstance(params, dict):
            errors.add(f"{where}params", "must be an object")
            return
        for problem in conditions[str(name)].validate(params):
            errors.add(f"{where}{problem.split(':', 1)[0]}", problem.split(":", 1)[-1].strip())
        return
    _check_activity_part(rule, where, errors, known_types)
    if kind == "activity":
        repeat = rule.setdefault("repeat", "once")
        if repeat not in ("once", "repeatable"):
            errors.add(
                f"{where}repeat",
                "must be once (points for the first occurrence only) or repeatable",
            )
        if rule.get("cap") is not None:
            if repeat != "repeatable":
                errors.add(
                    f"{where}cap",
                    "only a repeatable rule has a cap; remove cap or set repeat: repeatable",
                )
            _number(rule, "cap", where, errors, low=0, high=MAX_POINTS * 100)
        else:
            rule["cap"] = None
        rule.setdefault("decay", True)
        if not isinstance(rule["decay"], bool):
            errors.add(f"{where}decay", "must be true (engagement decay applies) or false")
    else:
        min_count = rule.get("min_count")
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            errors.add(
                f"{where}min_count",
                "must be a whole number >= 1 (how many activities in the window)",
            )
        _number(rule, "window_days", where, errors, low=0.01, high=3650)


def _check_groups(doc: dict[str, Any], errors: _Errors) -> dict[str, str]:
    groups = doc.get("groups")
    if not isinstance(groups, list) or not groups:
        errors.add(
            "groups", "must be a non-empty list of {name, part: fit|engagement, cap, in_total}"
        )
        return {}
    parts: dict[str, str] = {}
    for i, group in enumerate(groups):
        at = f"groups[{i}]."
        if not isinstance(group, dict):
            errors.add(f"groups[{i}]", "must be an object {name, part, cap, in_total}")
            continue
        name = group.get("name")
        if not isinstance(name, str) or not ID_PATTERN.match(name):
            errors.add(
                f"{at}name", "must be lower-case letters, digits and _, e.g. fit or product_x"
            )
            continue
        if name in parts:
            errors.add(f"{at}name", f"group {name!r} is declared twice; names must be unique")
        part = group.setdefault("part", "engagement")
        if part not in PARTS:
            errors.add(f"{at}part", "must be fit (who they are) or engagement (what they do)")
        if group.get("cap") is not None:
            _number(group, "cap", at, errors, low=0, high=MAX_POINTS * 100)
        else:
            group["cap"] = None
        group.setdefault("in_total", True)
        if not isinstance(group["in_total"], bool):
            errors.add(
                f"{at}in_total", "must be true or false (whether the group counts in the total)"
            )
        parts[name] = str(part)
    return parts


def _check_decay(doc: dict[str, Any], errors: _Errors) -> None:
    decay = doc.setdefault("decay", {"mode": "none"})
    if not isinstance(decay, dict) or decay.get("mode") not in DECAY_MODES:
        errors.add(
            "decay.mode",
            f"must be one of {', '.join(DECAY_MODES)}, e.g. "
            '{"mode": "half_life", "half_life_days": 10}',
        )
        return
    if decay["mode"] == "half_life":
        _number(decay, "half_life_days", "decay.", errors, low=0.01, high=3650)
    elif decay["mode"] == "window":
        _number(decay, "window_days", "decay.", errors, low=0.01, high=3650)


def _check_bands(doc: dict[str, Any], errors: _Errors) -> None:
    bands = doc.setdefault("bands", [{"name": "all", "min": 0}])
    if not isinstance(bands, list) or not bands:
        errors.add("bands", "must be a non-empty list of {name, min}")
        return
    for i, band in enumerate(bands):
        if (
            not isinstance(band, dict)
            or not isinstance(band.get("name"), str)
            or not band["name"].strip()
        ):
            errors.add(f"bands[{i}].name", "each band needs a name")
            continue
        _number(band, "min", f"bands[{i}].", errors, low=-MAX_POINTS * 100, high=MAX_POINTS * 100)
    doc["bands"] = sorted(
        (b for b in bands if isinstance(b, dict) and isinstance(b.get("min"), int | float)),
        key=lambda b: -b["min"],
    )


def _check_signals(doc: dict[str, Any], errors: _Errors) -> None:
    from cultiveat_scoring.rules.defaults import default_rule_set

    signals = doc.setdefault("signals", default_rule_set()["signals"])
    if not isinstance(signals, dict):
        errors.add("signals", "must be an object; see the default rule set for its keys")
        return
    defaults = default_rule_set()["signals"]
    for key, value in defaults.items():
        signals.setdefault(key, value)
    for key in (
        "high_engagement_percent",
        "window_days",
        "pricing_min_visits",
        "spike_hours",
        "spike_min_activities",
        "spike_factor",
    ):
        _number(signals, key, "signals.", errors, low=0, high=100000)
    signals["demo_activity_types"] = _string_list(
        signals.get("demo_activity_types"), "signals.demo_activity_types", errors
    )
    if (
        not isinstance(signals.get("pricing_url_contains"), str)
        or not signals["pricing_url_contains"]
    ):
        errors.add(
            "signals.pricing_url_contains",
            "must be the part of the URL that marks the pricing page",
        )
    actions = doc.setdefault("priority_actions", default_rule_set()["priority_actions"])
    if not isinstance(actions, list):
        errors.add("priority_actions", "must be a list of {action, within, when}")
        return
    for i, item in enumerate(actions):
        at = f"priority_actions[{i}]."
        if not isinstance(item, dict):
            errors.add(f"priority_actions[{i}]", "must be an object {action, within, when}")
            continue
        if not isinstance(item.get("action"), str) or not item["action"].strip():
            errors.add(f"{at}action", "must say what to do, e.g. Schedule demo")
        if item.get("within") not in URGENCIES:
            errors.add(f"{at}within", f"must be one of {', '.join(URGENCIES)}")
        when = item.get("when")
        if not isinstance(when, dict) or len(when) != 1:
            errors.add(
                f"{at}when",
                "must hold exactly one of signal, hot, min_score, min_engagement_percent",
            )
            continue
        key, value = next(iter(when.items()))
        if key == "signal" and value not in SIGNALS:
            errors.add(
                f"{at}when.signal", f"unknown signal {value!r}; use one of {', '.join(SIGNALS)}"
            )
        elif key == "hot" and value is not True:
            errors.add(f"{at}when.hot", "must be true")
        elif key in ("min_score", "min_engagement_percent"):
            _number(when, key, f"{at}when.", errors, low=0, high=MAX_POINTS * 100)
        elif key not in ("signal", "hot", "min_score", "min_engagement_percent"):
            errors.add(
                f"{at}when",
                f"unknown key {key!r}; use signal, hot, min_score or min_engagement_percent",
            )


def validate_rule_set(
    document: Any, *, known_types: Collection[str] = (), conditions: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The normalised document, or ``ValidationError`` listing every problem and how to fix it."""
    if not isinstance(document, dict):
        raise ValidationError.field(
            "body", "must be a JSON object: a rule set with groups and rules"
        )
    doc = copy.deepcopy(document)
    doc.pop("version", None)
    errors = _Errors()
    doc.setdefault("name", "rule set")
    _number(doc, "total_cap", "", errors, low=1, high=MAX_POINTS * 100, required=False)
    doc.setdefault("total_cap", None)
    _number(doc, "engagement_ceiling", "", errors, low=1, high=MAX_POINTS * 100)
    _number(doc, "hot_threshold", "", errors, low=0, high=MAX_POINTS * 100)
    _check_decay(doc, errors)
    _check_bands(doc, errors)
    groups = _check_groups(doc, errors)
    rules = doc.get("rules")
    if not isinstance(rules, list):
        errors.add(
            "rules", "must be a list of rules (field, activity, activity_count or condition)"
        )
        rules = []
    seen: dict[str, int] = {}
    for index, rule in enumerate(rules):
        _check_rule(rule, index, errors, groups, known_types, conditions or {})
        rule_id = rule.get("id") if isinstance(rule, dict) else None
        if isinstance(rule_id, str):
            if rule_id in seen:
                errors.add(
                    f"rules[{index}].id",
                    f"duplicate id {rule_id!r} (also rules[{seen[rule_id]}]); ids must be unique",
                )
            seen[rule_id] = index
    _check_signals(doc, errors)
    if errors.items:
        raise ValidationError(errors=errors.items)
    return doc
