"""The contacts list page at 100,000 contacts: server-side render time (budget: p95 <= 150 ms).

    nice python benchmarks/web/bench_contacts_page.py --database-url sqlite:///benchmarks/data/web-100k.db

The data set comes from ``benchmarks/generate.py`` (run it first, or pass ``--generate``). Each
page variant (first page, a stage filter, a search, a deep page, filter + tag) is requested
``--requests`` times in-process through the ASGI app with an admin's token, so the figure is the
server's work (routing, auth, SQL, template) without network noise. The reference is the same
SQL the page runs (count, page of ids, contacts with tags) executed directly, in the same run.
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
    "deep page": "/contacts?page=200",
    "stage + tag + channel": "/contacts?stage=Nurturing&tag=Enterprise&channel=Webinar",
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def raw_reference(crm: Any, path: str) -> None:
    """The page's SQL alone: what the database must do for this page."""
    from urllib.parse import parse_qs, urlsplit

    from cultiveat_web import contact_list
    from litestar.datastructures import MultiDict

    params = MultiDict([(k, v) for k, vs in parse_qs(urlsplit(path).query).items() for v in vs])
    query, _ = contact_list.parse_query(params, [])
    import sqlalchemy as sa

    from cultiveat_core.db import tables

    c = tables.contacts
    where = contact_list.conditions(crm, query, {}, contact_list.datetime.now(contact_list.UTC))
    with crm.engine.connect() as conn:
        conn.execute(sa.select(sa.func.count()).select_from(c).where(*where)).scalar_one()
        ids = (
            conn.execute(
                sa.select(c.c.id)
                .where(*where)
                .order_by(c.c.id.desc())
                .limit(50)
                .offset((query.page - 1) * 50)
            )
            .scalars()
            .all()
        )
        crm.contacts.load(conn, ids)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--requests", type=int, default=40)
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
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        for name, path in VARIANTS.items():
            for _ in range(3):  # warm caches and connection pool
                assert client.get(path).status_code == 200
                raw_reference(crm, path)
            page_ms, raw_ms = [], []
            for _ in range(args.requests):
                started = time.perf_counter()
                response = client.get(path)
                page_ms.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.text[:300]
                started = time.perf_counter()
                raw_reference(crm, path)
                raw_ms.append((time.perf_counter() - started) * 1000)
            results["variants"][name] = {
                "path": path,
                "page_p50_ms": round(statistics.median(page_ms), 1),
                "page_p95_ms": round(percentile(page_ms, 0.95), 1),
                "sql_p50_ms": round(statistics.median(raw_ms), 1),
                "sql_p95_ms": round(percentile(raw_ms, 0.95), 1),
                "ratio_p50": round(
                    statistics.median(page_ms) / max(statistics.median(raw_ms), 0.01), 2
                ),
                "within_budget": percentile(page_ms, 0.95) <= 150,
            }
    print(json.dumps(results, indent=2))
    print(f"\n{'variant':<24}{'page p50':>10}{'page p95':>10}{'SQL p50':>10}{'ratio':>8}  budget")
    for name, row in results["variants"].items():
        print(
            f"{name:<24}{row['page_p50_ms']:>10}{row['page_p95_ms']:>10}{row['sql_p50_ms']:>10}"
            f"{row['ratio_p50']:>8}  {'ok' if row['within_budget'] else 'OVER'}"
        )
    crm.close()
    return 0 if all(r["within_budget"] for r in results["variants"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
