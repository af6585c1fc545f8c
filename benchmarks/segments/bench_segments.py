"""Segment benchmarks (issue 7) against hand-written SQL on the same data, in the same run.

    nice .venv/bin/python benchmarks/segments/bench_segments.py \\
        --database-url postgresql://postgres@127.0.0.1/cultiveat_bench_500k
    nice .venv/bin/python benchmarks/segments/bench_segments.py --database-url sqlite:////tmp/bench100k.db

Needs a database filled by ``benchmarks/generate.py``. It adds the plugin's tables, replaces
the segments named ``bench: ...`` and measures:

1. one 3-condition segment with an activity condition: first refresh (everyone enters) and a
   steady refresh (nothing changed), against the hand-written SELECT and INSERT ... SELECT;
2. the preview count of that definition against the hand-written COUNT(*);
3. all 50 segments (the seed templates plus 47 varied ones) refreshed, first and steady;
4. event-driven re-evaluation of one contact against every segment (median and p95 over
   random contacts), against the hand-written 3-condition query for one id, times 50.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from typing import Any

import cultiveat_segments.plugin
import sqlalchemy as sa
from cultiveat_segments import membership
from cultiveat_segments.plugin import service

from cultiveat_core.crm import create_crm
from cultiveat_core.db.metadata import utcnow
from cultiveat_core.domain import Actor
from cultiveat_core.settings import Settings

ACTOR = Actor.system("benchmarks/segments")
STAGES = ["Hot Lead", "Qualified", "Nurturing"]
THREE = {
    "all": [
        {"field": "company_size", "op": ">", "value": 100},
        {"field": "stage", "op": "in", "value": STAGES},
        {"activity": "email_clicked", "within_days": 90, "min_count": 2},
    ]
}


def hand_written(dialect: str, one_id: bool = False) -> str:
    id_filter = " AND c.id = :cid" if one_id else ""
    inner_filter = " AND contact_id = :cid" if one_id else ""
    return (
        "SELECT c.id FROM core_contacts c WHERE c.company_size > 100 "
        "AND c.stage IN ('Hot Lead', 'Qualified', 'Nurturing') AND c.id IN ("
        "SELECT contact_id FROM core_activities WHERE type = 'email_clicked' AND occurred_at >= :since"
        f"{inner_filter} GROUP BY contact_id HAVING count(*) >= 2){id_filter}"
    )


def varied_definitions(count: int) -> list[dict[str, Any]]:
    """47 definitions of the kinds marketers write: fields, tags, activities, purchases, nesting."""
    rng = random.Random(11)
    activity = [
        "email_opened",
        "email_clicked",
        "page_visit",
        "webinar_attended",
        "demo_requested",
        "content_downloaded",
        "pricing_requested",
    ]
    industries = [
        "SaaS / Technology",
        "Financial Services",
        "Healthcare",
        "Retail",
        "Manufacturing",
    ]
    tags = ["Enterprise", "SMB", "CEO", "Decision Maker", "Newsletter", "Demo", "Trial", "Priority"]
    made = []
    for i in range(count):
        kind = i % 6
        if kind == 0:
            d = {
                "all": [
                    {"field": "industry", "op": "=", "value": rng.choice(industries)},
                    {"field": "company_size", "op": ">=", "value": rng.choice([50, 120, 300, 800])},
                ]
            }
        elif kind == 1:
            d = {
                "any": [
                    {"tags": rng.sample(tags, 2), "match": "any"},
                    {"field": "position", "op": "is_c_level"},
                ]
            }
        elif kind == 2:
            d = {
                "activity": rng.choice(activity),
                "within_days": rng.choice([7, 14, 30, 90]),
                "min_count": rng.choice([1, 2, 3]),
            }
        elif kind == 3:
            d = {
                "purchase": rng.choice(
                    ["total_spent", "purchase_count", "days_since_last_purchase"]
                ),
                "op": rng.choice([">", "<="]),
                "value": rng.choice([1, 2, 180, 1000]),
            }
        elif kind == 4:
            d = {
                "all": [
                    {
                        "field": "stage",
                        "op": "=",
                        "value": rng.choice(["Hot Lead", "Customer", "Qualified"]),
                    },
                    {"not": {"activity": "unsubscribed"}},
                    {
                        "any": [
                            {"activity": rng.choice(activity), "within_days": 30},
                            {"tag": rng.choice(tags)},
                        ]
                    },
                ]
            }
        else:
            d = {
                "all": [
                    {"field": "channel", "op": "in", "value": ["Webinar", "Event", "Referral"]},
                    {
                        "activity": "email_opened",
                        "within_days": 60,
                        "min_count": 3,
                        "max_count": 20,
                    },
                ]
            }
        made.append(d)
    return made


def timed(fn: Any, repeat: int = 1) -> tuple[float, Any]:
    """Median wall time of ``repeat`` runs (the machine is shared and noisy) and the last result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--event-samples", type=int, default=30)
    parser.add_argument(
        "--events-only",
        action="store_true",
        help="only part 4, against the segments a previous run left",
    )
    parser.add_argument(
        "--steady-only",
        action="store_true",
        help="re-measure the steady figures (3-condition refresh, preview, all segments, event "
        "path) on the segments a previous full run left, without the first fills",
    )
    parser.add_argument(
        "--migrate-target",
        default="heads",
        help="alembic target, e.g. segments@head to add only this plugin's tables to a database "
        "built by an older core (a pending core backfill would rewrite every contact first)",
    )
    args = parser.parse_args(argv)
    url = args.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    crm = create_crm(
        Settings(
            database_url=url,
            secret_key="bench-" + "x" * 40,
            event_wait_seconds=60,
            embedded_worker=False,
        ),
        plugins=[cultiveat_segments.plugin],
        load_entrypoints=False,
    )
    from cultiveat_core.db import migrate

    migrate.upgrade(crm.engine, crm.migration_locations, target=args.migrate_target)
    svc = service(crm)
    dialect = crm.engine.dialect.name
    with crm.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
        contacts = conn.execute(sa.text("SELECT count(*) FROM core_contacts")).scalar_one()
        activities = conn.execute(sa.text("SELECT count(*) FROM core_activities")).scalar_one()
        version = conn.exec_driver_sql(
            "SELECT version()"
            if dialect == "postgresql"
            else "SELECT 'SQLite ' || sqlite_version()"
        ).scalar_one()
    since = utcnow() - timedelta(days=90)
    since_param = (
        since if dialect == "postgresql" else since.replace(tzinfo=None).isoformat(sep=" ")
    )
    if args.events_only:
        report = {
            "database": version.split(" on ")[0],
            "contacts": contacts,
            "activities": activities,
        }
        report["one_contact_vs_all_segments"] = event_path(crm, args, dialect, since_param)
        print(json.dumps(report, indent=2))
        return 0
    if args.steady_only:
        return steady_only(crm, args, dialect, since_param, version, contacts, activities)
    for seg in svc.list(ACTOR):
        if seg["name"].startswith("bench: "):
            svc.delete(ACTOR, seg["id"])
    report: dict[str, Any] = {
        "database": version.split(" on ")[0],
        "contacts": contacts,
        "activities": activities,
        "nproc": _nproc(),
    }

    refs = {tuned: references(crm, dialect, since_param, tuned) for tuned in (False, True)}
    ref_select, ref_rows, ref_count, ref_insert = refs[True]
    report["hand_written_default_settings"] = {
        "select_s": round(refs[False][0], 3),
        "count_s": round(refs[False][2], 3),
        "insert_s": round(refs[False][3], 3),
    }

    seg = svc.create(ACTOR, {"name": "bench: 3 conditions", "definition": THREE}, refresh=False)
    first, (result,) = timed(lambda: membership.refresh(crm, [seg["id"]]))
    steady, _ = timed(lambda: membership.refresh(crm, [seg["id"]]), 3)
    preview, body = timed(lambda: svc.preview(ACTOR, THREE, 50), 3)
    assert result.size == len(ref_rows) == body["count"], (
        result.size,
        len(ref_rows),
        body["count"],
    )
    report["three_conditions"] = {
        "load_average": os.getloadavg(),
        "members": result.size,
        "first_refresh_s": round(first, 3),
        "hand_written_insert_s": round(ref_insert, 3),
        "first_ratio": round(first / ref_insert, 2),
        "steady_refresh_s": round(steady, 3),
        "hand_written_select_s": round(ref_select, 3),
        "steady_ratio": round(steady / ref_select, 2),
        "preview_count_s": round(preview, 3),
        "hand_written_count_s": round(ref_count, 3),
        "preview_ratio": round(preview / ref_count, 2),
    }
    print(json.dumps(report, indent=2), flush=True)

    existing = len(svc.list(ACTOR))
    for i, d in enumerate(varied_definitions(50 - existing)):
        svc.create(ACTOR, {"name": f"bench: varied {i + 1}", "definition": d}, refresh=False)
    total = len(svc.list(ACTOR))
    all_first, results = timed(lambda: membership.refresh(crm))
    all_steady, steady_results = timed(lambda: membership.refresh(crm))
    report["all_segments"] = {
        "load_average": os.getloadavg(),
        "segments": total,
        "evaluated": sum(1 for r in results if r.skipped is None),
        "skipped": [r.name for r in results if r.skipped],
        "first_refresh_s": round(all_first, 2),
        "steady_refresh_s": round(all_steady, 2),
        "slowest": sorted(((round(r.seconds, 3), r.name) for r in results), reverse=True)[:3],
    }
    report["all_segments_each"] = [(r.name, r.size, round(r.seconds, 3)) for r in steady_results]
    print(json.dumps(report["all_segments"], indent=2), flush=True)

    report["one_contact_vs_all_segments"] = event_path(crm, args, dialect, since_param)
    print(json.dumps(report["one_contact_vs_all_segments"], indent=2), flush=True)
    print(json.dumps(report), file=sys.stderr)
    return 0


def steady_only(
    crm: Any, args: Any, dialect: str, since_param: Any, version: str, contacts: int, activities: int
) -> int:
    svc = service(crm)
    seg = svc.by_name(ACTOR, "bench: 3 conditions")
    refs = {tuned: references(crm, dialect, since_param, tuned) for tuned in (False, True)}
    ref_select, ref_rows, ref_count, _ = refs[True]
    steady, (result,) = timed(lambda: membership.refresh(crm, [seg["id"]]), 3)
    preview, body = timed(lambda: svc.preview(ACTOR, THREE, 50), 3)
    assert result.size == len(ref_rows) == body["count"], (result.size, len(ref_rows), body["count"])
    report: dict[str, Any] = {
        "database": version.split(" on ")[0],
        "contacts": contacts,
        "activities": activities,
        "hand_written_default_settings": {
            "select_s": round(refs[False][0], 3),
            "count_s": round(refs[False][2], 3),
        },
        "three_conditions": {
            "load_average": os.getloadavg(),
            "members": result.size,
            "steady_refresh_s": round(steady, 3),
            "hand_written_select_s": round(ref_select, 3),
            "steady_ratio": round(steady / ref_select, 2),
            "preview_count_s": round(preview, 3),
            "hand_written_count_s": round(ref_count, 3),
            "preview_ratio": round(preview / ref_count, 2),
        },
    }
    print(json.dumps(report, indent=2), flush=True)
    all_steady, results = timed(lambda: membership.refresh(crm))
    report["all_segments"] = {
        "load_average": os.getloadavg(),
        "segments": len(results),
        "steady_refresh_s": round(all_steady, 2),
        "changed": sum(1 for r in results if r.entered or r.left),
    }
    report["all_segments_each"] = [(r.name, r.size, round(r.seconds, 3)) for r in results]
    print(json.dumps(report["all_segments"], indent=2), flush=True)
    report["one_contact_vs_all_segments"] = event_path(crm, args, dialect, since_param)
    print(json.dumps(report["one_contact_vs_all_segments"], indent=2), flush=True)
    print(json.dumps(report), file=sys.stderr)
    return 0


def references(crm: Any, dialect: str, since_param: Any, tuned: bool) -> tuple[float, Any, float, float]:
    """Hand-written SELECT, COUNT(*) and INSERT ... SELECT of the 3-condition segment (medians of 3
    for the reads). ``tuned``: under the session settings the plugin uses for its own refreshes
    and previews (``membership.allow_hashing``: work_mem, JIT off on PostgreSQL), so the ratio
    compares the SQL, not the settings; otherwise the server's defaults."""
    with crm.engine.connect() as conn, conn.begin():
        if tuned:
            membership.allow_hashing(conn)
        ref_select, ref_rows = timed(
            lambda: conn.execute(sa.text(hand_written(dialect)), {"since": since_param}).fetchall(),
            3,
        )
        ref_count, _ = timed(
            lambda: conn.execute(
                sa.text(f"SELECT count(*) FROM ({hand_written(dialect)}) x"), {"since": since_param}
            ).scalar_one(),
            3,
        )
        conn.exec_driver_sql("CREATE TEMP TABLE bench_members (id integer primary key)")
        ref_insert, _ = timed(
            lambda: conn.execute(
                sa.text(f"INSERT INTO bench_members {hand_written(dialect)}"),
                {"since": since_param},
            )
        )
        conn.exec_driver_sql("DROP TABLE bench_members")
    return ref_select, ref_rows, ref_count, ref_insert


def event_path(crm: Any, args: Any, dialect: str, since_param: Any) -> dict[str, Any]:
    """One contact against every segment (the event path), and the hand-written 3-condition
    query for one id times the number of segments as the reference."""
    rng = random.Random(5)
    total = len(service(crm).list(ACTOR))
    with crm.engine.connect() as conn:
        top = conn.execute(sa.text("SELECT max(id) FROM core_contacts")).scalar_one()
        ids = [
            i
            for i in (rng.randint(1, top) for _ in range(args.event_samples * 2))
            if conn.execute(sa.text("SELECT 1 FROM core_contacts WHERE id = :i"), {"i": i}).first()
        ][: args.event_samples]
        one = [
            timed(
                lambda cid=cid: conn.execute(
                    sa.text(hand_written(dialect, one_id=True)), {"since": since_param, "cid": cid}
                ).fetchall()
            )[0]
            for cid in ids
        ]
    membership.reevaluate(crm, [ids[0]])  # the first call builds the cached queries
    event = sorted(timed(lambda cid=cid: membership.reevaluate(crm, [cid]))[0] for cid in ids)
    reference = statistics.median(one) * total
    return {
        "load_average": os.getloadavg(),
        "segments": total,
        "samples": len(event),
        "median_ms": round(1000 * statistics.median(event), 1),
        "p95_ms": round(1000 * event[int(0.95 * (len(event) - 1))], 1),
        "hand_written_one_id_x_segments_ms": round(1000 * reference, 1),
        "ratio": round(statistics.median(event) / reference, 2),
    }


def _nproc() -> int:
    return os.cpu_count() or 0


if __name__ == "__main__":
    raise SystemExit(main())
