"""Make the benchmark data set through the project's own bulk paths.

    nice python benchmarks/generate.py --database-url postgresql://postgres@127.0.0.1/cultiveat_bench_500k \\
        --contacts 500000 --activity-mean 10

Deterministic (seeded): realistic names, about one company per eight contacts, positions,
industries, sizes, tags, stages, owners among 10 sales users, and activities of the core's
types over two years, skewed (most contacts have few, some hundreds). On PostgreSQL the
database is created (from template ``template0``) when missing. Contacts go through
``crm.contacts.create_many`` and activities through ``crm.activities.log_many``, in batches.
Other benchmarks (scoring, segments) reuse the database this script fills.
"""

from __future__ import annotations

import argparse
import sys
import time

import sqlalchemy as sa

from cultiveat_core.crm import create_crm
from cultiveat_core.db import tables
from cultiveat_core.demo import synthetic_activities, synthetic_contacts
from cultiveat_core.domain import Actor
from cultiveat_core.settings import Settings

SALES_USERS = 10


def ensure_database(url: str) -> None:
    parsed = sa.make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        return
    admin = sa.create_engine(parsed.set(database="test"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}
        ).first()
        if not exists:
            conn.exec_driver_sql(f'CREATE DATABASE "{parsed.database}"')
    admin.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--activity-mean", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)

    url = args.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    ensure_database(url)
    crm = create_crm(
        Settings(database_url=url, secret_key="bench-" + "x" * 40, event_wait_seconds=60),
        load_entrypoints=False,
    )
    crm.upgrade_database()
    actor = Actor.system("benchmarks/generate.py")
    with crm.engine.connect() as conn:
        existing = conn.execute(
            sa.select(sa.func.count()).select_from(tables.contacts)
        ).scalar_one()
    if existing:
        print(f"{existing} contacts already there; nothing to do", file=sys.stderr)
        return 0
    owners = []
    for i in range(SALES_USERS):
        email = f"sales{i}@bench.example.com"
        user = crm.users.create(actor, email, "sales" if i else "admin", name=f"Sales {i}")
        owners.append(user.id)
    started = time.perf_counter()
    contacts = activities = 0
    batch: list[dict[str, object]] = []

    def flush() -> None:
        nonlocal contacts, activities
        created = crm.contacts.create_many(actor, batch, source="benchmark")
        contacts += len(created)
        items = list(
            synthetic_activities(
                [c.id for c in created], seed=args.seed + contacts, mean=args.activity_mean
            )
        )
        for offset in range(0, len(items), 20_000):
            activities += len(crm.activities.log_many(actor, items[offset : offset + 20_000]))
        batch.clear()
        rate = contacts / (time.perf_counter() - started)
        print(
            f"{contacts} contacts, {activities} activities ({rate:.0f} contacts/s)", file=sys.stderr
        )

    for index, item in enumerate(synthetic_contacts(args.contacts, seed=args.seed)):
        item["owner"] = owners[index % SALES_USERS]
        batch.append(item)
        if len(batch) >= args.batch:
            flush()
    if batch:
        flush()
    with crm.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
        else:
            conn.exec_driver_sql("ANALYZE")
    print(
        f"done: {contacts} contacts, {activities} activities in {time.perf_counter() - started:.0f}s"
    )
    crm.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
