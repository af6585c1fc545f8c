"""Writing an export file (CSV or XLSX, optionally zipped with AES) from one streaming query."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from cultiveat_core.db import tables
from cultiveat_core.domain import Actor
from cultiveat_core.errors import ValidationError
from cultiveat_core.exporting.columns import export_columns_for

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

EXPORT_FORMATS = ("csv", "xlsx")
NON_ADMIN_LIMIT = 1000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FETCH = 2000
c = tables.contacts


@attrs.frozen
class ExportResult:
    rows: int
    truncated: bool
    filename: str
    media_type: str


def escape_cell(value: Any) -> Any:
    """A cell value safe to open in a spreadsheet (formula starts get a leading quote)."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, str):
        text = value.replace("\x00", "")
        return "'" + text if text.startswith(FORMULA_STARTS) else text
    return value


def _rows(
    crm: CRM, actor: Actor, params: Mapping[str, Any], limit: int | None
) -> Iterator[tuple[list[str], Any]]:
    from cultiveat_core.services.listing import parse_query

    query = parse_query(crm, actor, params)
    columns = export_columns_for(crm, actor)
    statement = (
        sa.select(*[expr.label(f"c{i}") for i, (_, expr) in enumerate(columns)])
        .where(query.where())
        .order_by(c.c.id)
    )
    if limit is not None:
        statement = statement.limit(limit + 1)
    masks = crm.fields_policy.export_masks(actor, [name for name, _ in columns])
    with crm.engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=FETCH).execute(statement)
        rows: Any = result
        if masks:
            # sensitive columns arrive decrypted (EncryptedText); mask them for this actor
            def masked(source: Any) -> Iterator[list[Any]]:
                for row in source:
                    cells = list(row)
                    for index, mask in masks:
                        cells[index] = mask(cells[index])
                    yield cells

            rows = masked(result)
        yield [name for name, _ in columns], rows


def _write_csv(header: list[str], rows: Iterator[Any], out: IO[bytes]) -> None:
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=True)
    writer = csv.writer(text)
    writer.writerow(header)
    for row in rows:
        writer.writerow([escape_cell(v) for v in row])
    text.flush()
    text.detach()


def _write_xlsx(header: list[str], rows: Iterator[Any], out: IO[bytes]) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Contacts")
    sheet.append(header)
    for row in rows:
        sheet.append([escape_cell(v) for v in row])
    book.save(out)


def export_contacts(
    crm: CRM,
    actor: Actor,
    params: Mapping[str, Any],
    out: IO[bytes],
    *,
    format: str = "csv",
    password: str | None = None,
) -> ExportResult:
    """Write the contacts matching ``params`` to ``out``; audited as ``contact.export``."""
    crm.permissions.require(actor, "contacts.export")
    if format not in EXPORT_FORMATS:
        raise ValidationError.field("format", f"must be one of: {', '.join(EXPORT_FORMATS)}")
    if password is not None and len(password) < 8:
        raise ValidationError.field("password", "use a password of at least 8 characters")
    limit = None if actor.is_admin else NON_ADMIN_LIMIT
    filename = f"contacts.{format}"
    counter = {"rows": 0, "truncated": False}

    def counted(result: Any) -> Iterator[Any]:
        for row in result:
            if limit is not None and counter["rows"] >= limit:
                counter["truncated"] = True
                break
            counter["rows"] += 1
            yield row

    with tempfile.TemporaryDirectory(prefix="cultiveat-export-") as work_dir:
        plain_path = os.path.join(work_dir, filename)
        for header, result in _rows(crm, actor, params, limit):
            with open(plain_path, "wb") as plain:
                (_write_csv if format == "csv" else _write_xlsx)(header, counted(result), plain)
        if password:
            import pyzipper

            zip_path = os.path.join(work_dir, filename + ".zip")
            with pyzipper.AESZipFile(
                zip_path, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES
            ) as archive:
                archive.setpassword(password.encode())
                archive.write(plain_path, arcname=filename)
            plain_path, filename = zip_path, filename + ".zip"
        with open(plain_path, "rb") as done:
            while chunk := done.read(1 << 20):
                out.write(chunk)
    from cultiveat_core.services.listing import parse_query

    echo = dict(parse_query(crm, actor, params).echo)
    with crm.transaction(actor) as work:
        work.audit(
            "contact.export",
            "contact",
            None,
            {
                "format": format,
                "filter": echo,
                "rows": counter["rows"],
                "truncated": counter["truncated"],
                "encrypted": bool(password),
            },
        )
    media = (
        "application/zip"
        if password
        else (
            "text/csv"
            if format == "csv"
            else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
    )
    return ExportResult(counter["rows"], bool(counter["truncated"]), filename, media)
