"""The visual builder's form model: rows of groups and conditions <-> a definition document.

The builder page is a plain HTML form (it works without JavaScript): every group and
condition is a row with a short id (``r0``, ``r1``...) and form fields named after it
(``r3.parent``, ``r3.subject``, ``r3.op``, ``r3.value``...). ``parse_form`` rebuilds the
tree from the submitted fields, ``to_definition`` turns it into the JSON definition the API
takes (remembering the JSON path of every row, so validation errors are shown next to the
row that caused them) and ``from_definition`` turns a stored definition back into rows.

A condition row's *subject* names what it tests, in one select: ``field:company_size``,
``custom`` (with a key), ``tags``, ``activity:email_clicked``, ``purchase:total_spent``,
``segment:12`` or ``preference:interests``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from cultiveat_segments.definitions import (
    COLUMN_TYPES,
    PREFERENCE_LISTS,
    PREFERENCE_TEXT,
    PURCHASE_OPS,
)

ROW_ID = re.compile(r"^r\d{1,4}$")
MAX_ROWS = 400
TAG_OPS = {"any": "has any of", "all": "has all of", "none": "has none of"}
ACTIVITY_OPS = {
    "at_least": "at least N times",
    "at_most": "at most N times",
    "between": "between N and M times",
    "never": "never",
}
PREFERENCE_LIST_OPS = {"includes": "includes", "excludes": "does not include"}


@attrs.define
class Row:
    id: str
    kind: str = "cond"  # "group" or "cond"
    combine: str = "all"  # groups: all / any
    negate: bool = False  # groups: NOT
    subject: str = "field:company_size"
    key: str = ""  # custom field key
    op: str = ""
    value: str = ""
    within: str = ""  # activity / purchase: in the last N days
    children: list[Row] = attrs.field(factory=list)


def new_group(row_id: str = "r0") -> Row:
    return Row(row_id, kind="group")


def walk(row: Row) -> list[Row]:
    """The row and every row under it, in document order."""
    found = [row]
    for child in row.children:
        found.extend(walk(child))
    return found


def renumber(root: Row) -> None:
    for i, row in enumerate(walk(root)):
        row.id = f"r{i}"


def find(root: Row, row_id: str) -> tuple[Row | None, Row | None]:
    """(row, its parent)."""
    for row in walk(root):
        for child in row.children:
            if child.id == row_id:
                return child, row
    return (root, None) if root.id == row_id else (None, None)


# -- form fields -> rows -------------------------------------------------------------------


def parse_form(form: Mapping[str, Any]) -> Row:
    """Rebuild the tree from the submitted fields; unknown or malformed rows are dropped."""
    order = [r for r in _list(form, "rows") if ROW_ID.match(r)][:MAX_ROWS]
    rows: dict[str, Row] = {}
    parents: dict[str, str] = {}
    for row_id in dict.fromkeys(order):
        get = lambda name, rid=row_id: _one(form, f"{rid}.{name}")  # noqa: E731
        kind = "group" if get("kind") == "group" else "cond"
        rows[row_id] = Row(
            row_id,
            kind=kind,
            combine="any" if get("combine") == "any" else "all",
            negate=get("negate") in ("1", "on", "true"),
            subject=get("subject")[:200],
            key=get("key")[:64],
            op=get("op")[:40],
            value=get("value")[:2000],
            within=get("within")[:20],
        )
        parents[row_id] = get("parent")
    root = next((r for rid, r in rows.items() if not parents[rid] and r.kind == "group"), None)
    if root is None:
        root = new_group()
    for row_id, row in rows.items():
        if row is root:
            continue
        parent = rows.get(parents[row_id])
        if parent is not None and parent.kind == "group" and parent is not row:
            parent.children.append(row)
    # keep only rows reachable from the root (drops cycles and orphans)
    reachable = {id(r) for r in _walk_safe(root, set())}
    for row in rows.values():
        row.children = [c for c in row.children if id(c) in reachable]
    return root


def _walk_safe(row: Row, seen: set[int]) -> list[Row]:
    if id(row) in seen:
        return []
    seen.add(id(row))
    found = [row]
    kept = []
    for child in row.children:
        sub = _walk_safe(child, seen)
        if sub:
            kept.append(child)
            found.extend(sub)
    row.children = kept
    return found


def _list(form: Mapping[str, Any], name: str) -> list[str]:
    getall = getattr(form, "getall", None)
    if getall is not None:
        return [str(v) for v in getall(name, [])]
    value = form.get(name)
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _one(form: Mapping[str, Any], name: str) -> str:
    values = _list(form, name)
    return values[-1].strip() if values else ""


def apply_action(root: Row, action: str) -> Row:
    """``add:ID`` (a condition in group ID), ``group:ID`` (a sub-group), ``remove:ID``."""
    verb, _, target = action.partition(":")
    row, parent = find(root, target)
    if row is None:
        return root
    if verb in ("add", "group") and row.kind == "group" and len(walk(root)) < MAX_ROWS:
        child = new_group("new") if verb == "group" else Row("new")
        if verb == "group":
            child.children.append(Row("new2"))
        row.children.append(child)
    elif verb == "remove" and parent is not None:
        parent.children.remove(row)
    renumber(root)
    return root


# -- rows -> definition ----------------------------------------------------------------------


@attrs.define
class Built:
    definition: Any
    paths: dict[str, str]  # row id -> JSON path ("$.all[1]") of the row's node


@attrs.frozen
class Vocab:
    """What the page knows: field types, declared custom field types, each operator's value kind."""

    field_types: Mapping[str, str]
    custom_types: Mapping[str, str]
    arity: Mapping[str, str]


def to_definition(root: Row, vocab: Vocab) -> Built:
    paths: dict[str, str] = {}

    def group(row: Row, path: str) -> Any:
        paths[row.id] = path
        if row.negate:
            if len(row.children) == 1:
                return {"not": node(row.children[0], f"{path}.not")}
            inner = f"{path}.not.{row.combine}"
            return {"not": {row.combine: [node(c, f"{inner}[{i}]") for i, c in enumerate(row.children)]}}
        return {row.combine: [node(c, f"{path}.{row.combine}[{i}]") for i, c in enumerate(row.children)]}

    def node(row: Row, path: str) -> Any:
        if row.kind == "group":
            return group(row, path)
        paths[row.id] = path
        return condition(row, vocab)

    definition = group(root, "$")
    return Built(definition, paths)


def condition(row: Row, vocab: Vocab) -> dict[str, Any]:
    source, _, name = row.subject.partition(":")
    if source == "field":
        kind = vocab.field_types.get(name, "text")
        return _compare({"field": name}, row, kind, vocab)
    if source == "custom":
        kind = vocab.custom_types.get(row.key) or ("number" if _number(row.value) is not None else "text")
        if row.op in ("is_true", "is_false"):
            kind = "bool"
        return _compare({"custom": row.key}, row, kind, vocab)
    if source == "tags":
        return {"tags": _split(row.value), "match": row.op if row.op in TAG_OPS else "any"}
    if source == "activity":
        found: dict[str, Any] = {"activity": name.split(",") if "," in name else name}
        numbers = [_number(v) for v in _split(row.value)]
        if row.op == "never":
            found.update(min_count=0, max_count=0)
        elif row.op == "at_most":
            found.update(min_count=0, max_count=_count(numbers, 0, row.value))
        elif row.op == "between":
            found.update(min_count=_count(numbers, 0, row.value), max_count=_count(numbers, 1, row.value))
        else:
            found["min_count"] = _count(numbers, 0, row.value or "1")
        if row.within:
            found["within_days"] = _number_or_text(row.within)
        return found
    if source == "purchase":
        found = {"purchase": name, "op": row.op, "value": _number_or_text(row.value)}
        if row.within:
            found["within_days"] = _number_or_text(row.within)
        return found
    if source == "segment":
        return {"segment": int(name) if name.isdigit() else name}
    if source == "preference":
        if name in PREFERENCE_LISTS:
            return {"preference": name, "op": row.op, "value": row.value}
        return _compare({"preference": name}, row, "text", vocab)
    return {"field": row.subject, "op": row.op, "value": row.value}


def _compare(head: dict[str, Any], row: Row, kind: str, vocab: Vocab) -> dict[str, Any]:
    found = {**head, "op": row.op}
    arity = vocab.arity.get(row.op, "one")
    if arity == "none":
        return found
    if arity in ("list", "pair"):
        items = _split(row.value)
        found["value"] = [_number_or_text(v) for v in items] if kind == "number" or arity == "pair" else items
    elif arity == "days" or kind == "number":
        found["value"] = _number_or_text(row.value)
    else:
        found["value"] = row.value
    return found


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _number(text: str) -> int | float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def _number_or_text(text: str) -> Any:
    found = _number(text)
    return text if found is None else found


def _count(numbers: Sequence[int | float | None], index: int, raw: str) -> Any:
    if index < len(numbers) and isinstance(numbers[index], int):
        return numbers[index]
    return raw  # not a whole number: the analyser reports it next to the row


# -- definition -> rows ----------------------------------------------------------------------


class NotVisual(ValueError):
    """A definition the rows cannot show (it is shown in the JSON editor instead)."""


def from_definition(definition: Any) -> Row:
    counter = iter(range(MAX_ROWS * 4))

    def rid() -> str:
        return f"r{next(counter)}"

    def group(raw: Any) -> Row:
        if isinstance(raw, Mapping) and len(raw) == 1 and ("all" in raw or "any" in raw):
            key = "all" if "all" in raw else "any"
            row = Row(rid(), kind="group", combine=key)
            if not isinstance(raw[key], list):
                raise NotVisual(f"{key} must be a list")
            row.children = [node(child) for child in raw[key]]
            return row
        if isinstance(raw, Mapping) and len(raw) == 1 and "not" in raw:
            inner = raw["not"]
            if isinstance(inner, Mapping) and len(inner) == 1 and ("all" in inner or "any" in inner):
                row = group(inner)
                row.negate = True
                return row
            row = Row(rid(), kind="group", negate=True)
            row.children = [node(inner)]
            return row
        row = Row(rid(), kind="group")
        row.children = [node(raw)]
        return row

    def node(raw: Any) -> Row:
        if isinstance(raw, Mapping) and len(raw) == 1 and set(raw) & {"all", "any", "not"}:
            return group(raw)
        return cond(raw, rid())

    root = group(definition if definition is not None else {"all": []})
    renumber(root)
    return root


def cond(raw: Any, row_id: str) -> Row:
    if not isinstance(raw, Mapping):
        raise NotVisual("a condition must be an object")
    text = lambda v: "" if v is None else str(v)  # noqa: E731
    joined = lambda v: ", ".join(text(x) for x in v) if isinstance(v, list) else text(v)  # noqa: E731
    if "field" in raw:
        return Row(row_id, subject=f"field:{raw['field']}", op=text(raw.get("op")), value=joined(raw.get("value")))
    if "custom" in raw:
        return Row(row_id, subject="custom", key=text(raw["custom"]), op=text(raw.get("op")),
                   value=joined(raw.get("value")))
    if "tags" in raw or "tag" in raw:
        names = raw.get("tags", [raw.get("tag")])
        return Row(row_id, subject="tags", op=text(raw.get("match", "any")), value=joined(names))
    if "activity" in raw:
        kinds = raw["activity"]
        name = ",".join(map(str, kinds)) if isinstance(kinds, list) else text(kinds)
        low, high = raw.get("min_count", 1), raw.get("max_count")
        if high is None:
            op, value = "at_least", text(low)
        elif low == 0 and high == 0:
            op, value = "never", ""
        elif low == 0:
            op, value = "at_most", text(high)
        else:
            op, value = "between", f"{low}, {high}"
        return Row(row_id, subject=f"activity:{name}", op=op, value=value, within=text(raw.get("within_days")))
    if "purchase" in raw:
        return Row(row_id, subject=f"purchase:{raw['purchase']}", op=text(raw.get("op")),
                   value=text(raw.get("value")), within=text(raw.get("within_days")))
    if "segment" in raw:
        return Row(row_id, subject=f"segment:{raw['segment']}")
    if "preference" in raw:
        return Row(row_id, subject=f"preference:{raw['preference']}", op=text(raw.get("op")),
                   value=joined(raw.get("value")))
    raise NotVisual("unknown condition")


# -- what a row offers -------------------------------------------------------------------------


def subject_type(subject: str, field_types: Mapping[str, str], custom_types: Mapping[str, str], key: str) -> str:
    """The operator family of a row: a field type, or tags / activity / purchase / segment / list."""
    source, _, name = subject.partition(":")
    if source == "field":
        return field_types.get(name, "text")
    if source == "custom":
        return custom_types.get(key, "custom")
    if source == "preference":
        return "list" if name in PREFERENCE_LISTS else "text"
    return source


def operator_choices(family: str, operators_by_type: Mapping[str, Sequence[tuple[str, str]]]) -> list[tuple[str, str]]:
    if family == "tags":
        return list(TAG_OPS.items())
    if family == "activity":
        return list(ACTIVITY_OPS.items())
    if family == "purchase":
        return [(op, op) for op in PURCHASE_OPS]
    if family == "segment":
        return [("member", "is a member")]
    if family == "list":
        return list(PREFERENCE_LIST_OPS.items())
    if family == "custom":  # undeclared custom field: text and number operators
        seen: dict[str, str] = {}
        for kind in ("text", "number", "bool"):
            for name, label in operators_by_type.get(kind, []):
                seen.setdefault(name, label)
        return list(seen.items())
    return list(operators_by_type.get(family, []))


def column_fields() -> dict[str, str]:
    return dict(COLUMN_TYPES)


PREFERENCES = (*PREFERENCE_TEXT, *PREFERENCE_LISTS)
