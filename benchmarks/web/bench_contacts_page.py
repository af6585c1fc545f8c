"""The contacts list page at 100,000 contacts: server-side render time (budget: p95 <= 150 ms).

    nice python benchmarks/web/bench_contacts_page.py --database-url sqlite:///benchmarks/data/web-100k.db

The data set comes from ``benchmarks/generate.py`` (run it first, or pass ``--generate``). Each
page variant (first page, a stage filter, a search, a deep page, filter + tag) is requested
``--requests`` times in-process through the ASGI app with an admin's token, so the figure is the
server's work (routing, auth, SQL, template) without network noise. The page is keyset-paged
on the core's listing service; the "deep page" is the page whose cursor is the 10,000th newest
contact (what 200 clicks on "Next" reach). Two references, measured in the same run:

- ``sql``: the SQL the page runs now (keyset page of ids, contacts with tags) executed directly;
  a filtered page does not count: the browser asks ``/contacts/count`` afterwards, which is
  timed too (``count``: at most 1,001 rows counted);
- ``exact``: the SQL the page ran before (an exact ``count(*)`` of the matches and an
  ``OFFSET`` page ordered by id), to show what the keyset page and the capped count save.

Besides wall-clock times the page's CPU time is recorded (``time.process_time`` of this
process around each request: the server's work in all its threads plus the in-process test
client's), which other jobs on a loaded machine inflate far less than wall-clock time.

Prints one JSON object and a table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

VARIANTS = {
    "first page": "/contacts",
    "stage filter": "/contacts?stage=Qualified",
    "search": "/contacts?q=chen",
    "deep page": "/contacts?cursor={deep}&start=10001",
    "stage + tag + channel": "/contacts?stage=Nurturing&tag=Enterprise&channel=Webinar",
}
DEEP_OFFSET = 10_000


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _params(path: str) -> Any:
    from urllib.parse import parse_qs, urlsplit

    from litestar.datastructures import MultiDict

    return MultiDict([(k, v) for k, vs in parse_qs(urlsplit(path).query).items() for v in vs])


def raw_reference(crm: Any, actor: Any, path: str) -> None:
    """The page's SQL alone (keyset page, contacts with tags, capped count when filtered)."""
    import sqlalchemy as sa
    from cultiveat_web import contact_list

    from cultiveat_core.services import listing

    query, _ = contact_list.parse_query(_params(path), [])
    c = contact_list.c
    where = contact_list.where_clause(crm, actor, query, contact_list.datetime.now(contact_list.UTC))
    _, expr, descending, nullable = listing.parse_sort(crm, actor, None)
    statement = sa.select(c.c.id, expr).where(where)
    if query.cursor:
        value, id_ = listing.decode_cursor(query.cursor)
        statement = statement.where(listing.keyset_condition(expr, descending, nullable, value, id_))
    statement = statement.order_by(*listing.order_by(expr, descending, nullable)).limit(51)
    with crm.engine.connect() as conn:
        ids = [r.id for r in conn.execute(statement)][:50]
        crm.contacts.load(conn, ids)


def exact_reference(crm: Any, actor: Any, path: str, offset: int) -> None:
    """The SQL the page ran before this change: exact count(*) and an OFFSET page by id."""
    import sqlalchemy as sa
    from cultiveat_web import contact_list

    query, _ = contact_list.parse_query(_params(path), [])
    c = contact_list.c
    where = contact_list.where_clause(crm, actor, query, contact_list.datetime.now(contact_list.UTC))
    with crm.engine.connect() as conn:
        conn.execute(sa.select(sa.func.count()).select_from(c).where(where)).scalar_one()
        ids = (
            conn.execute(
                sa.select(c.c.id).where(where).order_by(c.c.id.desc()).limit(50).offset(offset)
            )
            .scalars()
            .all()
        )
        crm.contacts.load(conn, ids)


def deep_cursor(crm: Any) -> str:
    """The cursor after the ``DEEP_OFFSET``-th newest contact."""
    import sqlalchemy as sa

    from cultiveat_core.db import tables
    from cultiveat_core.services import listing

    c = tables.contacts
    with crm.engine.connect() as conn:
        row = conn.execute(
            sa.select(c.c.created_at, c.c.id)
            .order_by(c.c.created_at.desc(), c.c.id.desc())
            .offset(DEEP_OFFSET - 1)
            .limit(1)
        ).one()
    return listing.encode_cursor(row.created_at, row.id)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument(
        "--exact-requests", type=int, default=10, help="runs of the old exact-count SQL reference"
    )
    parser.add_argument(
        "--generate", action="store_true", help="make the 100,000-contact data set first"
    )
    args = parser.parse_args(argv)
    url = args.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    if args.generate:
        import generate

        generate.main(["--database-url", url, "--contacts", "100000", "--activity-mean", "2"])

    import cultiveat_web.plugin
    from litestar.testing import TestClient

    from cultiveat_core.crm import create_crm
    from cultiveat_core.settings import Settings
    from cultiveat_core.testing import token_for
    from cultiveat_core.web import create_app

    crm = create_crm(
        Settings(
            database_url=url,
            secret_key="bench-" + "x" * 40,
            embedded_worker=False,
            token_cache_seconds=60.0,
        ),
        plugins=[cultiveat_web.plugin],
        load_entrypoints=False,
    )
    crm.upgrade_database()
    import sqlalchemy as sa

    from cultiveat_core.db import tables

    with crm.engine.connect() as conn:
        contacts = conn.execute(
            sa.select(sa.func.count()).select_from(tables.contacts)
        ).scalar_one()
        version = conn.execute(
            sa.text(
                "select sqlite_version()"
                if conn.dialect.name == "sqlite"
                else "show server_version"
            )
        ).scalar_one()
    app = create_app(crm, run_jobs=False)
    token = token_for(crm, "admin")
    results: dict[str, Any] = {
        "contacts": contacts,
        "database": f"{crm.engine.dialect.name} {version}",
        "requests_per_variant": args.requests,
        "budget_p95_ms": 150,
        "variants": {},
    }
    import os

    results["nproc"] = os.cpu_count()
    actor = crm.tokens.authenticate(token)
    deep = deep_cursor(crm)
    results["load_average_before"] = os.getloadavg()
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        for name, template in VARIANTS.items():
            path = template.format(deep=deep)
            offset = DEEP_OFFSET if "cursor" in path else 0
            for _ in range(3):  # warm caches and connection pool
                assert client.get(path).status_code == 200
                raw_reference(crm, actor, path)
            page_ms, raw_ms, exact_ms, count_ms = [], [], [], []
            count_path = "/contacts/count?" + path.split("?", 1)[1] if "?" in path else None
            page_cpu_ms = []
            for i in range(args.requests):
                started, cpu = time.perf_counter(), time.process_time()
                response = client.get(path)
                page_ms.append((time.perf_counter() - started) * 1000)
                page_cpu_ms.append((time.process_time() - cpu) * 1000)
                assert response.status_code == 200, response.text[:300]
                started = time.perf_counter()
                raw_reference(crm, actor, path)
                raw_ms.append((time.perf_counter() - started) * 1000)
                if count_path and "cursor" not in path:
                    started = time.perf_counter()
                    assert client.get(count_path).status_code == 200
                    count_ms.append((time.perf_counter() - started) * 1000)
                if i < args.exact_requests:
                    started = time.perf_counter()
                    exact_reference(crm, actor, path, offset)
                    exact_ms.append((time.perf_counter() - started) * 1000)
            results["variants"][name] = {
                "path": template,
                "page_p50_ms": round(statistics.median(page_ms), 1),
                "page_p95_ms": round(percentile(page_ms, 0.95), 1),
                "page_cpu_p50_ms": round(statistics.median(page_cpu_ms), 1),
                "page_cpu_p95_ms": round(percentile(page_cpu_ms, 0.95), 1),
                "sql_p50_ms": round(statistics.median(raw_ms), 1),
                "sql_p95_ms": round(percentile(raw_ms, 0.95), 1),
                "count_request_p95_ms": round(percentile(count_ms, 0.95), 1) if count_ms else None,
                "exact_p50_ms": round(statistics.median(exact_ms), 1) if exact_ms else None,
                "ratio_page_to_sql_p50": round(
                    statistics.median(page_ms) / max(statistics.median(raw_ms), 0.01), 2
                ),
                "ratio_page_to_exact_p50": round(
                    statistics.median(page_ms) / max(statistics.median(exact_ms), 0.01), 2
                )
                if exact_ms
                else None,
                "within_budget": percentile(page_ms, 0.95) <= 150,
            }
    results["load_average_after"] = os.getloadavg()
    print(json.dumps(results, indent=2))
    print(
        f"\n{'variant':<24}{'page p50':>10}{'page p95':>10}{'cpu p95':>9}{'SQL p50':>10}{'exact p50':>11}"
        f"{'pg/SQL':>8}{'pg/exact':>10}{'count p95':>11}  budget"
    )
    for name, row in results["variants"].items():
        print(
            f"{name:<24}{row['page_p50_ms']:>10}{row['page_p95_ms']:>10}{row['page_cpu_p95_ms']:>9}"
            f"{row['sql_p50_ms']:>10}"
            f"{row['exact_p50_ms'] or '-':>11}{row['ratio_page_to_sql_p50']:>8}"
            f"{row['ratio_page_to_exact_p50'] or '-':>10}{row['count_request_p95_ms'] or '-':>11}"
            f"  {'ok' if row['within_budget'] else 'OVER'}"
        )
    crm.close()
    return 0 if all(r["within_budget"] for r in results["variants"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
