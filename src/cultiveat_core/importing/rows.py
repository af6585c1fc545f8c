"""One CSV record to contact input: cells to fields through the column mapping."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from cultiveat_core.importing.mappers import IGNORE, ImportMapper
from cultiveat_core.importing.reader import Record

STAGE_SYNONYMS = {
    "lead": "Cold Lead",
    "subscriber": "Cold Lead",
    "new": "Cold Lead",
    "cold": "Cold Lead",
    "marketingqualifiedlead": "Qualified",
    "marketing qualified lead": "Qualified",
    "mql": "Qualified",
    "salesqualifiedlead": "Qualified",
    "sales qualified lead": "Qualified",
    "sql": "Qualified",
    "opportunity": "Hot Lead",
    "hot": "Hot Lead",
    "warm": "Nurturing",
    "nurture": "Nurturing",
    "customer": "Customer",
    "evangelist": "Customer",
    "closed lost": "Lost",
    "lost": "Lost",
}


@attrs.frozen
class RowInput:
    """Contact input of one record, the fields it filled, and which header each field came from."""

    number: int
    data: dict[str, Any]
    provided: frozenset[str]
    headers: Mapping[str, str]

    def column(self, field: str) -> str | None:
        if field in self.headers:
            return self.headers[field]
        top = field.split(".", 1)[0].split("[", 1)[0]
        return self.headers.get(top) or (
            self.headers.get("name") if field in ("first_name", "last_name") else None
        )


def row_problems(record: Record, headers: list[str], encoding: str) -> list[dict[str, Any]]:
    """Structural problems of a record: unreadable, wrong number of cells, NUL bytes, bad bytes."""
    if record.error:
        return [{"row": record.number, "column": None, "message": record.error}]
    problems = []
    cells = record.cells
    if len(cells) > len(headers) and any(cell.strip() for cell in cells[len(headers) :]):
        problems.append(
            {
                "row": record.number,
                "column": None,
                "message": f"has {len(cells)} values but the header has {len(headers)} columns; "
                "quote values "
                "that contain the delimiter",
            }
        )
    elif len(cells) < len(headers):
        problems.append(
            {
                "row": record.number,
                "column": None,
                "message": f"has only {len(cells)} values but the header has {len(headers)} "
                "columns; check for a "
                "missing delimiter or a line break outside quotes",
            }
        )
    joined = "".join(cells)
    if "\x00" not in joined and "\ufffd" not in joined:
        return problems
    for index, cell in enumerate(cells[: len(headers)]):
        if "\x00" in cell:
            problems.append(
                {
                    "row": record.number,
                    "column": headers[index],
                    "message": "contains a NUL byte (binary data); remove it",
                }
            )
        elif "\ufffd" in cell:
            problems.append(
                {
                    "row": record.number,
                    "column": headers[index],
                    "message": f"has bytes that are not valid {encoding} text; "
                    "save the file as CSV UTF-8",
                }
            )
    return problems


def to_input(
    record: Record, headers: list[str], columns: Mapping[int, str], mapper: ImportMapper
) -> RowInput:
    """One record as contact input (see :class:`RowBuilder`, which compiles this per file)."""
    return RowBuilder(headers, columns, mapper).build(record)


class RowBuilder:
    """``to_input`` compiled once per file: the column plan and the header each field comes
    from are worked out here, so a row costs one pass over its mapped cells."""

    def __init__(
        self, headers: list[str], columns: Mapping[int, str], mapper: ImportMapper
    ) -> None:
        origin: dict[str, str] = {}  # field -> the header it came from (first mapped column)
        for index, target in columns.items():
            origin.setdefault(target, headers[index])
            origin.setdefault(target.split(".", 1)[0], headers[index])
        self.origin = origin
        self.clean_value = mapper.clean_value
        # (index, target, kind, part, header, header differs from the field's first column)
        self.plan: list[tuple[int, str, str, str, str, bool]] = []
        for index, target in columns.items():
            if target == IGNORE:
                continue
            group, _, part = target.partition(".")
            if group in ("address", "social", "custom"):
                kind = group
            elif target in ("tags", "name"):
                kind = target
            else:
                kind = "field"
            header = headers[index]
            self.plan.append((index, target, kind, part, header, origin[target] != header))

    def build(self, record: Record) -> RowInput:
        data: dict[str, Any] = {}
        address: dict[str, str] = {}
        social: dict[str, str] = {}
        custom: dict[str, str] = {}
        tags: list[str] = []
        origin = self.origin
        full_name: str | None = None
        cells = record.cells
        width = len(cells)
        clean_value = self.clean_value
        for index, target, kind, part, header, moved in self.plan:
            if index >= width:
                continue
            text = cells[index]
            if "\r" in text:
                text = text.replace("\r\n", "\n")
            text = text.strip()
            if clean_value is not None and text:
                text = clean_value(target, text)
            if not text:
                continue
            if kind == "field":
                if target not in data:
                    data[target] = text
                    if moved:  # the column that gave the value, when several map here
                        if origin is self.origin:
                            origin = dict(origin)
                        origin[target] = header
            elif kind == "address":
                address.setdefault(part, text)
            elif kind == "social":
                social.setdefault(part, text)
            elif kind == "custom":
                custom.setdefault(part, text)
            elif kind == "tags":
                tags += [t for t in text.replace(";", ",").split(",") if t.strip()]
            else:
                full_name = full_name or text
        if full_name and not (data.get("first_name") and data.get("last_name")):
            first, _, last = full_name.rpartition(" ") if " " in full_name else (full_name, "", "")
            data.setdefault("first_name", first or full_name)
            if last:
                data.setdefault("last_name", last)
        stage = data.get("stage")
        if isinstance(stage, str) and stage.lower() in STAGE_SYNONYMS:
            data["stage"] = STAGE_SYNONYMS[stage.lower()]
        if address:
            data["address"] = address
        if social:
            data["social"] = social
        if custom:
            data["custom"] = custom
        if tags:
            data["tags"] = tags
        provided = frozenset(data)
        data.setdefault("first_name", "")
        data.setdefault("last_name", "")
        return RowInput(record.number, data, provided, origin)
