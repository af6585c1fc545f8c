"""Fill a benchmark database fast (COPY on PostgreSQL, executemany on SQLite).

    nice .venv/bin/python benchmarks/segments/load_bulk.py \\
        --database-url postgresql://postgres@127.0.0.1/segments_bench_500k --contacts 500000

``benchmarks/generate.py`` loads through the services (the project's bulk path) and is the
one to use when there is time; on a shared 2-core machine it runs at ~100-300 contacts/s,
too slow for 500,000 contacts and 5,000,000 activities before a deadline. This loader writes
the same kind of data (``cultiveat_core.demo.synthetic_contacts``; activities with the same
skewed counts, type weights and two-year spread as ``synthetic_activities``, drawn with
numpy) straight into the tables, then sets ``last_activity_at`` and analyses.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import sqlalchemy as sa

from cultiveat_core.crm import create_crm
from cultiveat_core.demo import ACTIVITY_WEIGHTS, TAGS, synthetic_contacts
from cultiveat_core.settings import Settings

SUBJECTS = ["Welcome", "Product update", "Webinar invite", "Newsletter"]
URLS = ["/pricing", "/features", "/blog", "/docs", "/demo"]


def ensure_database(url: str) -> None:
    parsed = sa.make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        return
    admin = sa.create_engine(parsed.set(database="test"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}
        ).first():
            conn.exec_driver_sql(f'CREATE DATABASE "{parsed.database}"')
    admin.dispose()


def stamp(value: datetime, sqlite: bool) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else value.isoformat()


def contact_rows(count: int, now: datetime, sqlite: bool):
    created = stamp(now - timedelta(days=800), sqlite)
    for i, c in enumerate(synthetic_contacts(count), start=1):
        yield (
            (
                i,
                c["email"],
                c["email"].lower(),
                c["first_name"],
                c["last_name"],
                c["phone"],
                c["position"],
                c["company"],
                c["industry"],
                c["company_size"],
                c["stage"],
                c["type"],
                c["channel"],
                "{}",
                "{}",
                1,
                created,
                created,
            ),
            c["tags"],
        )


def activity_rows(count: int, now: datetime, sqlite: bool, seed: int = 7):
    rng = np.random.default_rng(seed)
    names = [n for n, _ in ACTIVITY_WEIGHTS]
    weights = np.array([w for _, w in ACTIVITY_WEIGHTS], dtype=float)
    per_contact = np.minimum((rng.pareto(1.6, count) + 1) * 10 * 0.375, 600).astype(int)
    total = int(per_contact.sum())
    contact_ids = np.repeat(np.arange(1, count + 1), per_contact)
    kinds = rng.choice(len(names), size=total, p=weights / weights.sum())
    seconds = rng.integers(0, 730 * 86400, size=total)
    amounts = np.round(rng.uniform(50, 5000, size=total), 2)
    picks = rng.integers(0, 20, size=total)
    created = stamp(now, sqlite)
    for n in range(total):
        kind = names[kinds[n]]
        if kind == "purchase":
            data = json.dumps({"amount": float(amounts[n]), "currency": "USD"})
        elif kind == "page_visit":
            data = json.dumps({"url": URLS[picks[n] % len(URLS)]})
        elif kind.startswith("email_"):
            data = json.dumps({"subject": SUBJECTS[picks[n] % len(SUBJECTS)]})
        else:
            data = "{}"
        yield (
            n + 1,
            int(contact_ids[n]),
            kind,
            stamp(now - timedelta(seconds=int(seconds[n])), sqlite),
            data,
            created,
        )


CONTACT_COLUMNS = (
    "id",
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
    "social",
    "custom",
    "version",
    "created_at",
    "updated_at",
)
ACTIVITY_COLUMNS = ("id", "contact_id", "type", "occurred_at", "data", "created_at")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument(
        "--server-side",
        action="store_true",
        help="PostgreSQL: let the server generate the rows (load_bulk_pg.sql)",
    )
    args = parser.parse_args(argv)
    url = args.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    ensure_database(url)
    crm = create_crm(
        Settings(database_url=url, secret_key="bench-" + "x" * 40), load_entrypoints=False
    )
    crm.upgrade_database()
    sqlite = crm.engine.dialect.name == "sqlite"
    with crm.engine.connect() as conn:
        if conn.execute(sa.text("SELECT count(*) FROM core_contacts")).scalar_one():
            print("contacts already there; nothing to do", file=sys.stderr)
            return 0
    now = datetime.now(UTC)
    started = time.perf_counter()
    if args.server_side and not sqlite:
        from pathlib import Path

        script = (
            (Path(__file__).parent / "load_bulk_pg.sql")
            .read_text()
            .replace(":contacts", str(args.contacts))
        )
        raw = crm.engine.raw_connection()
        try:
            for statement in [s for s in script.split(";\n") if s.strip()]:
                raw.cursor().execute(statement)
                raw.commit()
                print(
                    f"{statement.strip().splitlines()[-1][:60]}... {time.perf_counter() - started:.0f}s",
                    file=sys.stderr,
                    flush=True,
                )
        finally:
            raw.close()
        with crm.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
            n = conn.execute(sa.text("SELECT count(*) FROM core_activities")).scalar_one()
        print(
            f"done: {args.contacts} contacts, {n} activities in {time.perf_counter() - started:.0f}s",
            file=sys.stderr,
        )
        return 0
    tag_ids = {name: i for i, name in enumerate(TAGS, start=1)}
    contacts, links = [], []
    for row, tags in contact_rows(args.contacts, now, sqlite):
        contacts.append(row)
        links.extend((row[0], tag_ids[t], "import", stamp(now, sqlite)) for t in tags)
    tags_rows = [(i, name, name.lower(), stamp(now, sqlite)) for name, i in tag_ids.items()]
    raw = crm.engine.raw_connection()
    try:
        cur = raw.cursor()
        if sqlite:
            # the engine leaves transactions to SQLAlchemy (autocommit at the driver): one
            # explicit transaction instead of an fsync per row
            cur.execute("BEGIN")

            def insert(table: str, columns: tuple[str, ...], rows) -> None:
                marks = ",".join("?" * len(columns))
                cur.executemany(f"INSERT INTO {table} ({','.join(columns)}) VALUES ({marks})", rows)
        else:

            def insert(table: str, columns: tuple[str, ...], rows) -> None:
                with cur.copy(f"COPY {table} ({','.join(columns)}) FROM STDIN") as copy:
                    for r in rows:
                        copy.write_row(r)

        insert("core_tags", ("id", "name", "name_key", "created_at"), tags_rows)
        insert("core_contacts", CONTACT_COLUMNS, contacts)
        insert("core_contact_tags", ("contact_id", "tag_id", "source", "created_at"), links)
        print(f"{len(contacts)} contacts in {time.perf_counter() - started:.0f}s", file=sys.stderr)
        insert("core_activities", ACTIVITY_COLUMNS, activity_rows(args.contacts, now, sqlite))
        print(f"activities in {time.perf_counter() - started:.0f}s", file=sys.stderr)
        cur.execute(
            "UPDATE core_contacts SET last_activity_at = x.last FROM (SELECT contact_id, max(occurred_at) "
            "AS last FROM core_activities GROUP BY contact_id) x WHERE x.contact_id = core_contacts.id"
        )
        if not sqlite:
            for table in ("core_tags", "core_contacts", "core_activities"):
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                )
        raw.commit()
    finally:
        raw.close()
    with crm.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
        n = conn.execute(sa.text("SELECT count(*) FROM core_activities")).scalar_one()
    print(
        f"done: {args.contacts} contacts, {n} activities in {time.perf_counter() - started:.0f}s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
