"""Import benchmark: ``run_import`` (the CLI's path: parse, validate, dedupe, COPY/executemany,
tags, search documents, audit) against a raw COPY (PostgreSQL) or executemany (SQLite) of the
same rows into the same, freshly migrated table with the same indexes.

    python benchmarks/bench_import.py --database-url postgresql://postgres@127.0.0.1/cultiveat_bench_import --rows 50000

The database is dropped and re-created (PostgreSQL) or replaced (SQLite), then kept with the
imported rows; the reference load goes to a second database (``<name>_raw``).
The reference load runs before and after the import (their mean is the reference: the
machine may be shared). ``--reimport`` imports the file a second time, every row then a
duplicate of an existing contact (skipped). ``--existing N`` first loads N other contacts
(raw, with search documents, then VACUUM ANALYZE) into the imported database and into each
reference database, so both write into a table that already holds them. Prints rows/s,
seconds, peak RSS, the ratio to the raw load and the load average (before the import and
after the last load).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import resource
import tempfile
import time

import sqlalchemy as sa

from cultiveat_core.crm import create_crm
from cultiveat_core.db import tables
from cultiveat_core.demo import synthetic_contacts
from cultiveat_core.domain import Actor
from cultiveat_core.importing import ImportOptions, run_import
from cultiveat_core.services.search import search_document
from cultiveat_core.settings import Settings

HEADER = [
    "Email",
    "First Name",
    "Last Name",
    "Phone",
    "Job Title",
    "Company",
    "Industry",
    "Employees",
    "Stage",
    "Type",
    "Channel",
    "Tags",
]


def write_csv(path: str, rows: int, *, seed: int = 99, prefix: str = "") -> None:
    """The synthetic file (``prefix`` before every email: the rows already there when
    ``--existing`` is given, none of them a duplicate of the imported ones)."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for item in synthetic_contacts(rows, seed=seed):
            writer.writerow(
                [
                    prefix + item["email"],
                    item["first_name"],
                    item["last_name"],
                    item["phone"],
                    item["position"],
                    item["company"],
                    item["industry"],
                    item["company_size"],
                    item["stage"],
                    item["type"],
                    item["channel"],
                    ", ".join(item["tags"]),
                ]
            )


def fresh_crm(url: str):  # type: ignore[no-untyped-def]
    parsed = sa.make_url(url)
    if parsed.drivername.startswith("postgresql"):
        admin = sa.create_engine(parsed.set(database="test"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{parsed.database}"')
        admin.dispose()
    elif parsed.database and os.path.exists(parsed.database):
        os.unlink(parsed.database)
    crm = create_crm(
        Settings(database_url=url, secret_key="bench-" + "x" * 40), load_entrypoints=False
    )
    crm.upgrade_database()
    return crm


def fresh_with(url: str, existing: str | None):  # type: ignore[no-untyped-def]
    """A freshly migrated database, holding the ``existing`` file's contacts (loaded raw with
    their search documents, then vacuumed and analysed) when given."""
    crm = fresh_crm(url)
    if existing is not None:
        raw_load(crm, existing, search_doc=True)
        with crm.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                    "VACUUM ANALYZE"
                )
            else:
                conn.exec_driver_sql("ANALYZE")
                conn.commit()
    return crm


def raw_url(url: str) -> str:
    """A separate database for the reference load (the imported one is kept for other benchmarks)."""
    parsed = sa.make_url(url)
    if parsed.drivername.startswith("postgresql"):
        return parsed.set(database=f"{parsed.database}_raw").render_as_string(hide_password=False)
    return parsed.set(database=f"{parsed.database}.raw.db").render_as_string(hide_password=False)


def raw_load(crm, path: str, search_doc: bool = False) -> float:  # type: ignore[no-untyped-def]
    """The reference: the same rows straight into core_contacts (no validation, dedupe or tags),
    streamed from the file (COPY on PostgreSQL, executemany per 5,000 rows on SQLite). With
    ``search_doc`` each row also carries its search document (what the search index costs)."""
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    cols = [
        "email",
        "email_key",
        "first_name",
        "last_name",
        "phone",
        "position",
        "company",
        "industry",
        "company_size",
        "stage",
        "type",
        "channel",
        "created_at",
        "updated_at",
        "search_doc",
    ]
    dialect = crm.engine.dialect.name

    def document(r: list[str]) -> str | None:
        if not search_doc:
            return None
        values = {"first_name": r[1], "last_name": r[2], "email": r[0], "company": r[5], "position": r[4]}
        return search_document(values, [*r[11].split(", "), r[4]], dialect)

    started = time.perf_counter()
    with open(path, encoding="utf-8", newline="") as handle, crm.engine.begin() as conn:
        reader = csv.reader(handle)
        next(reader)
        rows = (
            (
                r[0], r[0].lower(), r[1], r[2], r[3], r[4], r[5], r[6], int(r[7]), r[8], r[9], r[10],
                now, now, document(r),
            )
            for r in reader
        )
        if conn.dialect.name == "postgresql":
            raw = conn.connection.dbapi_connection
            with (
                raw.cursor() as cursor,
                cursor.copy(
                    f"COPY core_contacts ({', '.join(cols)}, social, custom, version) FROM STDIN"
                ) as copy,
            ):
                for row in rows:
                    copy.write_row([*row, "{}", "{}", 1])
        else:
            while chunk := list(itertools.islice(rows, 5000)):
                conn.execute(
                    tables.contacts.insert(),
                    [
                        dict(zip(cols, r, strict=True)) | {"social": {}, "custom": {}, "version": 1}
                        for r in chunk
                    ],
                )
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument(
        "--reimport",
        action="store_true",
        help="import the same file a second time (every row a duplicate, --on-duplicate skip)",
    )
    parser.add_argument(
        "--references",
        choices=("after", "all"),
        default="all",
        help="all: raw load before and after the import and one with search documents; "
        "after: one raw load after the import (long runs)",
    )
    parser.add_argument(
        "--existing",
        type=int,
        default=0,
        help="contacts already in the database before the import and before each reference "
        "load (loaded raw, other emails than the file's)",
    )
    args = parser.parse_args()
    url = args.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as work:
        path = os.path.join(work, "contacts.csv")
        write_csv(path, args.rows)
        size = os.path.getsize(path)
        existing = None
        if args.existing:
            existing = os.path.join(work, "existing.csv")
            write_csv(existing, args.existing, seed=7, prefix="old.")
        # the reference before and after the import (the machine is shared: its load moves)
        reference_before = reference_search = None
        if args.references == "all":
            crm = fresh_with(raw_url(url), existing)
            reference_before = raw_load(crm, path)
            crm.close()
        crm = fresh_with(url, existing)
        load_before = os.getloadavg()
        started = time.perf_counter()
        with open(path, "rb") as stream:
            result = run_import(
                crm, Actor.system("bench"), stream, size=size, options=ImportOptions()
            )
        cultiveat = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        again = None
        if args.reimport:
            started = time.perf_counter()
            with open(path, "rb") as stream:
                second = run_import(
                    crm, Actor.system("bench"), stream, size=size, options=ImportOptions()
                )
            again = time.perf_counter() - started
            assert second.skipped == args.rows, second.as_dict()
        crm.close()
        crm = fresh_with(raw_url(url), existing)
        reference_after = raw_load(crm, path)
        crm.close()
        if args.references == "all":
            crm = fresh_with(raw_url(url), existing)
            reference_search = raw_load(crm, path, search_doc=True)
            crm.close()
    loads = [r for r in (reference_before, reference_after) if r is not None]
    reference = sum(loads) / len(loads)
    figures = {
        "rows": args.rows,
        "database": sa.make_url(url).get_backend_name(),
        "nproc": os.cpu_count(),
        "import_seconds": round(cultiveat, 2),
        "import_rows_per_s": round(args.rows / cultiveat),
        "created": result.created,
        "errors": result.error_count,
        "peak_rss_mb": round(peak_mb),
        "raw_load_seconds_before": round(reference_before, 2) if reference_before else None,
        "raw_load_seconds_after": round(reference_after, 2),
        "raw_rows_per_s": round(args.rows / reference),
        "ratio_to_raw": round(cultiveat / reference, 2),
        "raw_load_with_search_doc_seconds": round(reference_search, 2) if reference_search else None,
        "ratio_to_raw_with_search_doc": round(cultiveat / reference_search, 2)
        if reference_search
        else None,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    if again is not None:
        figures["reimport_all_duplicates_seconds"] = round(again, 2)
        figures["reimport_ratio_to_raw"] = round(again / reference, 2)
    if args.existing:
        figures["existing_contacts"] = args.existing
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
