"""In-process latency of the list, search and KPI services (no HTTP), p50/p99 over N runs.

    python benchmarks/bench_latency.py --database-url postgresql://postgres@127.0.0.1/cultiveat_bench_500k

Complements ``bench_http.py``: the same queries without the server and the load tool.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from cultiveat_core.crm import create_crm
from cultiveat_core.db import tables
from cultiveat_core.domain import Actor
from cultiveat_core.services.kpis import contact_kpis
from cultiveat_core.services.listing import list_page
from cultiveat_core.settings import Settings

CASES: dict[str, dict[str, list[str]]] = {
    "list stage=Hot Lead": {"stage": ["Hot Lead"]},
    "list stage=Qualified sort=company": {"stage": ["Qualified"], "sort": ["company"]},
    "list tag=Enterprise": {"tag": ["Enterprise"]},
    "list stale size_min=1000": {"stale": ["true"], "size_min": ["1000"]},
    "list owner=<a sales user>": {"owner": ["OWNER"]},
    "list industry=Retail": {"industry": ["retail"]},
    "list type=Partner channel=Webinar": {"type": ["Partner"], "channel": ["Webinar"]},
    "search common": {"q": ["COMMON"]},
    "search rare": {"q": ["RARE"]},
    "search two words": {"q": ["COMMON TWO"]},
}


def measure(fn: Callable[[], Any], runs: int) -> dict[str, float]:
    fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "p50_ms": round(times[len(times) // 2], 1),
        "p99_ms": round(times[int(len(times) * 0.99) - 1], 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--common", default="smith")
    parser.add_argument("--rare", default="c424242", help="a term matching one or two contacts")
    parser.add_argument("--second", default="maria", help="the second word of the two-word search")
    args = parser.parse_args()
    url = args.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    crm = create_crm(
        Settings(database_url=url, secret_key="bench-" + "x" * 40), load_entrypoints=False
    )
    actor = Actor.system("bench")
    with crm.engine.connect() as conn:
        owner = conn.execute(
            sa.select(sa.func.min(tables.contacts.c.owner_id))
        ).scalar_one()
    words = {"COMMON": args.common, "RARE": args.rare, "TWO": args.second, "OWNER": str(owner)}

    def fill(params: dict[str, list[str]]) -> dict[str, list[str]]:
        out = {}
        for key, values in params.items():
            filled = []
            for value in values:
                for word, real in words.items():
                    value = value.replace(word, real)
                filled.append(value)
            out[key] = filled
        return out

    results = {
        name: measure(lambda p=fill(params): list_page(crm, actor, p), args.runs)  # type: ignore[misc]
        for name, params in CASES.items()
    }
    results["kpis"] = measure(lambda: contact_kpis(crm, actor), args.runs)
    print(json.dumps(results, indent=2))
    crm.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
