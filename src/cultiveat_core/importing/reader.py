"""Reading an uploaded file as CSV rows: encoding, delimiter, quoting, footers.

Encodings: UTF-8 with or without BOM, UTF-16 (BOM, or NUL-interleaved without one), and any
other charset-normalizer recognises (cp1252...). Delimiters ``,`` ``;`` tab and ``|`` are
sniffed from the first lines. Values may hold quoted newlines. The file is streamed, never
read whole. Problems of the whole file (empty, binary, a spreadsheet, no header) raise
``FileProblem`` before anything is written; a broken row is a row error.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from typing import IO

import attrs

from cultiveat_core.errors import ValidationError

SAMPLE_BYTES = 256 * 1024
DELIMITERS = ",;\t|"
MAX_FIELD = 1_000_000
FOOTER_LOOKAHEAD = 50
csv.field_size_limit(MAX_FIELD)


class FileProblem(ValidationError):
    """The file as a whole cannot be imported; nothing was written."""

    title = "File cannot be imported"

    def __init__(self, message: str) -> None:
        super().__init__(message)


class CountingReader(io.RawIOBase):
    """Counts the bytes read from ``raw`` (for progress)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.count += n
        return n


def detect_encoding(sample: bytes) -> str:
    if not sample.strip():
        raise FileProblem("the file is empty; export your contacts with a header row and try again")
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if sample.startswith(b"PK\x03\x04") or sample.startswith(b"\xd0\xcf\x11\xe0"):
        raise FileProblem(
            "this is a spreadsheet (Excel) file, not CSV; save it as CSV (UTF-8) and import that"
        )
    head = sample[:4096]
    if head[1::2].count(0) > len(head) // 4 and head[0::2].count(0) < len(head) // 20:
        return "utf-16-le"
    if head[0::2].count(0) > len(head) // 4 and head[1::2].count(0) < len(head) // 20:
        return "utf-16-be"
    if sample.count(0) > max(16, len(sample) // 10):
        raise FileProblem("this is a binary file, not CSV text; export your contacts as CSV")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    if best is None:
        raise FileProblem(
            "cannot tell the text encoding of this file; save it as CSV UTF-8 and try again"
        )
    encoding = best.encoding
    return "cp1252" if encoding in ("latin_1", "iso8859_1", "ascii") else encoding


def sniff_delimiter(text: str) -> str:
    lines = [line for line in text.splitlines()[:20] if line.strip()]
    if not lines:
        raise FileProblem("the file has no header row")
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        header = lines[0]
        counts = {d: header.count(d) for d in DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


@attrs.frozen
class Record:
    """One data row: ``number`` (1-based, header excluded), its cells, or a parse error."""

    number: int
    cells: list[str]
    error: str | None = None


@attrs.define
class CsvSource:
    headers: list[str]
    encoding: str
    delimiter: str
    counter: CountingReader
    rows: Iterator[Record]


def open_csv(stream: IO[bytes], *, footer: bool = True) -> CsvSource:
    """Sniff and open ``stream`` (seekable); ``rows`` yields data records lazily."""
    sample = stream.read(SAMPLE_BYTES)
    encoding = detect_encoding(sample)
    stream.seek(0)
    counter = CountingReader(stream)
    text = io.TextIOWrapper(
        io.BufferedReader(counter), encoding=encoding, errors="replace", newline=""
    )
    decoded_sample = sample.decode(encoding if encoding != "utf-16" else "utf-16", errors="replace")
    delimiter = sniff_delimiter(decoded_sample.lstrip("\ufeff"))
    reader = csv.reader(text, delimiter=delimiter, strict=True)
    headers: list[str] | None = None
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                headers = [cell.replace("\ufeff", "").strip() for cell in row]
                break
    except csv.Error as exc:
        raise FileProblem(
            f"the header row cannot be read as CSV ({exc}); check its quotes"
        ) from None
    if not headers:
        raise FileProblem("the file has no header row")
    return CsvSource(
        headers, encoding, delimiter, counter, _records(reader, footer and len(headers) > 1)
    )


def _records(reader: Iterator[list[str]], footer: bool) -> Iterator[Record]:
    """Data records; with ``footer``, rows after a blank row holding at most one value each are
    held back and dropped at the end of the file (a report footer), or given back when real
    data follows."""
    number = 0
    held: list[Record] = []  # a blank row and what follows it: data, or a report footer?
    while True:
        try:
            row = next(reader)
            record = Record(number + 1, row)
        except StopIteration:
            break
        except csv.Error as exc:
            record = Record(number + 1, [], f"cannot be read as CSV ({exc}); check its quotes")
        number += 1
        blank = record.error is None and not "".join(record.cells).strip()
        if footer and (blank or held):
            filled = sum(1 for cell in record.cells if cell.strip())
            if blank or (filled <= 1 and record.error is None and len(held) < FOOTER_LOOKAHEAD):
                held.append(record)
                continue
            yield from (r for r in held if any(cell.strip() for cell in r.cells))
            held.clear()
        if blank:
            continue
        yield record
