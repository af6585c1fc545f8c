"""Lead-scoring benchmarks: full recompute vs one hand-written SQL statement, dirty delta, latency.

    nice python benchmarks/scoring/bench_scoring.py --database-url postgresql://postgres@127.0.0.1/scoring_bench \\
        --load 500000          # bulk-load contacts + ~10 activities each first (when the DB is empty)
    nice python benchmarks/scoring/bench_scoring.py --database-url sqlite:////tmp/scoring_bench.db --load 100000

Works on the shared data set made by ``benchmarks/generate.py`` too (omit ``--load``). The
reference is a single hand-written INSERT ... SELECT computing the same default-rule scores
(fit by role and industry, engagement with 10-day half-life decay, caps); the script checks
that both give the same score for every contact and prints each figure with its ratio.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import cultiveat_scoring.plugin
import sqlalchemy as sa
from cultiveat_scoring import tables as scoring_tables
from cultiveat_scoring.compiler import normalise_words
from cultiveat_scoring.rules import default_rule_set

from cultiveat_core.crm import CRM, create_crm
from cultiveat_core.db import tables
from cultiveat_core.db.metadata import utcnow
from cultiveat_core.demo import synthetic_activities, synthetic_contacts
from cultiveat_core.domain import Actor
from cultiveat_core.settings import Settings

ACTOR = Actor.system("benchmarks/scoring")


# -- loading ---------------------------------------------------------------------------------


def _contact_rows(count: int) -> list[dict[str, object]]:
    now = utcnow()
    rows = []
    for i, item in enumerate(synthetic_contacts(count, seed=42), start=1):
        rows.append(
            {
                "id": i,
                "email": item["email"],
                "email_key": item["email"],
                "first_name": item["first_name"],
                "last_name": item["last_name"],
                "position": item["position"],
                "company": item["company"],
                "industry": item["industry"],
                "company_size": item["company_size"],
                "stage": item["stage"],
                "type": item["type"],
                "channel": item["channel"],
                "social": "{}",
                "custom": "{}",
                "version": 1,
                "created_at": now,
                "updated_at": now,
            }
        )
    return rows


def bulk_load(crm: CRM, count: int) -> None:
    """Bench data straight into the core tables (COPY on PostgreSQL): a fixture, not a code path."""
    started = time.perf_counter()
    contacts = _contact_rows(count)
    columns = list(contacts[0])
    activity_columns = ["contact_id", "type", "occurred_at", "data", "created_at"]
    now = utcnow()
    if crm.engine.dialect.name == "postgresql":
        raw = crm.engine.raw_connection()
        try:
            cur = raw.cursor()
            with cur.copy(f"COPY core_contacts ({', '.join(columns)}) FROM STDIN") as copy:
                for row in contacts:
                    copy.write_row([row[c] for c in columns])
            with cur.copy(
                f"COPY core_activities ({', '.join(activity_columns)}) FROM STDIN"
            ) as copy:
                for a in synthetic_activities(list(range(1, count + 1)), seed=7):
                    copy.write_row(
                        [a["contact_id"], a["type"], a["occurred_at"], json.dumps(a["data"]), now]
                    )
            cur.execute(
                "SELECT setval('core_contacts_id_seq', (SELECT max(id) FROM core_contacts))"
            )
            raw.commit()
        finally:
            raw.close()
        with crm.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
    else:
        with crm.begin() as conn:
            conn.execute(
                tables.contacts.insert(), [{**r, "social": {}, "custom": {}} for r in contacts]
            )
            batch: list[dict[str, object]] = []
            for a in synthetic_activities(list(range(1, count + 1)), seed=7):
                batch.append({**a, "created_at": now})
                if len(batch) >= 50_000:
                    conn.execute(tables.activities.insert(), batch)
                    batch.clear()
            if batch:
                conn.execute(tables.activities.insert(), batch)
        with crm.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    print(f"loaded {count} contacts in {time.perf_counter() - started:.0f}s", file=sys.stderr)


# -- the hand-written reference ------------------------------------------------------------------


def _words(column: str) -> str:
    inner = f"lower(coalesce({column}, ''))"
    for ch in ",.-/&()_;":
        inner = f"replace({inner}, '{ch}', ' ')"
    return f"(' ' || {inner} || ' ')"


def _any_word(expr: str, words: list[str], dialect: str) -> str:
    patterns = sorted({normalise_words(w) for w in words})
    find = "strpos" if dialect == "postgresql" else "instr"
    return "(" + " OR ".join(f"{find}({expr}, ' {p} ') > 0" for p in patterns) + ")"


def reference_sql(dialect: str, now: datetime, *, ids: str) -> str:
    """One statement: default-rule scores for the contacts whose id satisfies ``ids`` into
    scoring_bench_reference, written by hand the way a careful engineer would: titles and
    industries normalised once per contact (a derived table), the decay computed once per
    activity row, one GROUP BY over the activities with a conditional sum per rule."""
    rules = {r["id"]: r for r in default_rule_set()["rules"]}
    role, industry = rules["role"]["choices"], rules["industry"]["choices"]
    if dialect == "postgresql":
        # date_part() is double precision (EXTRACT is numeric since PostgreSQL 14: ~1 s more
        # per 3 million rows); the careful way, as the plugin does
        age = f"({now.timestamp()!r} - date_part('epoch', occurred_at)) / 86400.0"
        now_sql, week = (
            f"timestamptz '{now.isoformat()}'",
            f"timestamptz '{now.isoformat()}' - interval '7 days'",
        )
        url, ctype = "lower(data->>'url')", "lower(data->>'content_type')"
        keep = "OFFSET 0"
    else:
        text = now.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
        age = f"(julianday('{text}') - julianday(occurred_at))"
        now_sql, week = f"'{text}'", f"strftime('%Y-%m-%d %H:%M:%f', '{text}', '-7 days')"
        url, ctype = "lower(json_extract(data, '$.url'))", "lower(json_extract(data, '$.content_type'))"
        keep = "LIMIT -1 OFFSET 0"
    rate = math.log(2) / 10.0
    least = "least" if dialect == "postgresql" else "min"
    return f"""
INSERT INTO scoring_bench_reference (contact_id, score)
WITH c AS MATERIALIZED (
  SELECT id, {_words("position")} AS pos, {_words("industry")} AS ind
  FROM core_contacts WHERE {ids.format(column="id")}
), a AS (
  SELECT contact_id, type, occurred_at, data, exp(-{rate!r} * {age}) AS d
  FROM core_activities
  WHERE {ids.format(column="contact_id")} AND occurred_at <= {now_sql}
    AND type IN ('email_opened', 'email_clicked', 'webinar_attended', 'demo_requested',
      'pricing_requested', 'demo_scheduled', 'content_downloaded', 'page_visit', 'subscribed')
  {keep}
), e AS (
  SELECT contact_id,
    {least}(coalesce(sum(CASE WHEN type = 'email_opened' THEN 5 * d END), 0), 15)
    + {least}(coalesce(sum(CASE WHEN type = 'email_clicked' THEN 10 * d END), 0), 30)
    + {least}(coalesce(sum(CASE WHEN type = 'webinar_attended' THEN 15 * d END), 0), 30)
    + {least}(coalesce(sum(CASE WHEN type IN ('demo_requested', 'pricing_requested') THEN 40 * d END), 0), 80)
    + 40 * coalesce(max(CASE WHEN type = 'demo_scheduled' THEN d END), 0)
    + {least}(coalesce(sum(CASE WHEN type = 'content_downloaded' AND {ctype} = 'whitepaper' THEN 10 * d END), 0), 20)
    + {least}(coalesce(sum(CASE WHEN type = 'page_visit' AND {url} LIKE '%/pricing%' THEN 20 * d END), 0), 40)
    + CASE WHEN sum(CASE WHEN type = 'page_visit' AND occurred_at >= {week} THEN 1 ELSE 0 END) >= 2 THEN 15 ELSE 0 END
    + 10 * coalesce(max(CASE WHEN type = 'subscribed' THEN d END), 0) AS points
  FROM a GROUP BY contact_id
)
SELECT id, CAST(round(CASE WHEN t > 100 THEN 100 WHEN t < 0 THEN 0 ELSE t END) AS INTEGER) FROM (
  SELECT c.id,
    (CASE WHEN {_any_word("c.pos", role[0]["values"], dialect)} THEN 20.0 ELSE 10.0 END)
    + (CASE WHEN {_any_word("c.ind", industry[0]["values"], dialect)} THEN 20.0 ELSE 10.0 END)
    + coalesce(e.points, 0) AS t
  FROM c LEFT JOIN e ON e.contact_id = c.id
) s
"""


# -- measuring ---------------------------------------------------------------------------------


def server_cpu(dialect: str, database: str | None) -> float | None:
    """CPU seconds spent so far by the database: this process on SQLite (the engine runs in
    it), on a local PostgreSQL the backends connected to ``database``, autovacuum workers
    left out (read from /proc). On a
    machine shared with other work the wall-clock figures depend on the load; these do not."""
    if dialect != "postgresql":
        return time.process_time()
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return None
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                command = f.read().decode(errors="replace")
            if (
                not command.startswith("postgres: ")
                or f" {database} " not in command
                or "autovacuum" in command
            ):
                continue
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            continue
    return total


def timed(label: str, fn: object, cpu: object = None) -> float:
    before = cpu() if cpu else None  # type: ignore[operator]
    started = time.perf_counter()
    fn()  # type: ignore[operator]
    seconds = time.perf_counter() - started
    used = ""
    if before is not None:
        CPU[label] = round(cpu() - before, 2)  # type: ignore[operator]
        used = f" (database CPU {CPU[label]:.2f}s)"
    print(f"{label}: {seconds:.2f}s{used}", file=sys.stderr)
    return seconds


CPU: dict[str, float] = {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument(
        "--load", type=int, default=0, help="bulk-load this many contacts into an empty database"
    )
    parser.add_argument(
        "--delta", type=int, default=50_000, help="dirty contacts for the delta run"
    )
    parser.add_argument("--latency-runs", type=int, default=20)
    parser.add_argument(
        "--fresh", action="store_true", help="delete stored scores first (a first-time full run)"
    )
    args = parser.parse_args(argv)
    url = args.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    if url.startswith("postgresql"):
        parsed = sa.make_url(url)
        admin = sa.create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            if not conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}
            ).first():
                conn.exec_driver_sql(f'CREATE DATABASE "{parsed.database}"')
        admin.dispose()
    crm = create_crm(
        Settings(
            database_url=url,
            secret_key="bench-" + "x" * 40,
            event_wait_seconds=60,
            embedded_worker=False,
        ),
        plugins=[cultiveat_scoring.plugin],
        load_entrypoints=False,
    )
    crm.upgrade_database()
    dialect = crm.engine.dialect.name
    with crm.connect() as conn:
        contacts = conn.execute(
            sa.select(sa.func.count()).select_from(tables.contacts)
        ).scalar_one()
    if not contacts and args.load:
        bulk_load(crm, args.load)
    with crm.connect() as conn:
        contacts = conn.execute(
            sa.select(sa.func.count()).select_from(tables.contacts)
        ).scalar_one()
        activities = conn.execute(
            sa.select(sa.func.count()).select_from(tables.activities)
        ).scalar_one()
        version = conn.exec_driver_sql(
            "SHOW server_version" if dialect == "postgresql" else "SELECT sqlite_version()"
        ).scalar()
    print(
        f"{dialect} {version}: {contacts} contacts, {activities} activities, nproc {os.cpu_count()}",
        file=sys.stderr,
    )
    service = crm.extensions["scoring"].service
    now = datetime.now(UTC)

    database = crm.engine.url.database if dialect == "postgresql" else None
    local = dialect != "postgresql" or crm.engine.url.host in ("127.0.0.1", "localhost", None)

    def cpu() -> float | None:
        return server_cpu(dialect, database) if local else None

    def reference(label: str, ids: str, when: datetime) -> float:
        statement = reference_sql(dialect, when, ids=ids)
        if dialect == "postgresql":
            statement = statement.replace("%", "%%")  # psycopg reads a lone % as a placeholder
        with crm.begin() as conn:
            conn.exec_driver_sql("DELETE FROM scoring_bench_reference")

        def run() -> None:
            with crm.begin() as conn:
                if dialect == "postgresql":  # the same settings as the plugin's runs
                    conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
                    conn.exec_driver_sql("SET LOCAL jit = off")
                conn.exec_driver_sql(statement)

        return timed(label, run, cpu)

    def mismatching() -> int:
        with crm.connect() as conn:
            return int(
                conn.exec_driver_sql(
                    "SELECT count(*) FROM scoring_bench_reference r LEFT JOIN scoring_scores s"
                    " ON s.contact_id = r.contact_id WHERE s.score IS NULL OR s.score <> r.score"
                ).scalar()
                or 0
            )

    def load() -> float:
        return round(os.getloadavg()[0], 1)

    with crm.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS scoring_bench_reference")
        conn.exec_driver_sql("DROP TABLE IF EXISTS scoring_bench_dirty")
        conn.exec_driver_sql(
            "CREATE TABLE scoring_bench_reference (contact_id INTEGER PRIMARY KEY, score INTEGER)"
        )
        conn.exec_driver_sql("CREATE TABLE scoring_bench_dirty (contact_id INTEGER PRIMARY KEY)")
        if args.fresh:
            conn.execute(scoring_tables.scores.delete())
            conn.execute(scoring_tables.history.delete())

    # 1. full recompute through the plugin vs one hand-written statement (same data, same now):
    # first when no contact has a score yet (every row inserted), then the hourly recompute an
    # hour later (decay moved every engaged contact's score a little: the rows that moved by
    # 0.005 or changed an integer are updated), then the reference
    figures: dict[str, object] = {}
    full_first = timed(
        "plugin full recompute, first", lambda: service.recompute_all(now=now), cpu
    )
    figures["full_first_load"] = load()
    later = now + timedelta(hours=1)
    full = timed(
        "plugin full recompute, hourly", lambda: service.recompute_all(now=later), cpu
    )
    figures["full_hourly_load"] = load()
    service.recompute_all(now=now)  # back to `now` for the comparison of scores
    ref = reference("hand-written single statement", "{column} >= 1", now)
    figures["reference_load"] = load()
    mismatches = mismatching()
    print(f"scores differing between plugin and reference: {mismatches}", file=sys.stderr)

    # 2. hourly delta: 50,000 dirty contacts, vs the hand-written statement for the same ids
    rng = random.Random(1)
    dirty = rng.sample(range(1, contacts + 1), min(args.delta, contacts))
    with crm.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO scoring_bench_dirty (contact_id) VALUES (:i)"),
            [{"i": i} for i in dirty],
        )
        if dialect == "postgresql":
            conn.exec_driver_sql("ANALYZE scoring_bench_dirty")
    service.mark_dirty(dirty)
    delta = timed("delta of dirty contacts", lambda: service.rescore_dirty(now=later), cpu)
    figures["delta_load"] = load()
    ref_delta = reference(
        "hand-written statement for the same dirty contacts",
        "{column} IN (SELECT contact_id FROM scoring_bench_dirty)",
        later,
    )
    delta_mismatches = mismatching()
    # contacts with no demo or pricing request yet: the one logged below adds 40 points
    # (a contact already at the rule's cap, e.g. from an earlier run of this script, would
    # not move, and a run rewrites a row only when a value moved by 0.005 or more)
    with crm.connect() as conn:
        fresh = (
            conn.exec_driver_sql(
                "SELECT id FROM core_contacts c WHERE NOT EXISTS (SELECT 1 FROM core_activities a"
                " WHERE a.contact_id = c.id AND a.type IN ('demo_requested', 'pricing_requested'))"
            )
            .scalars()
            .all()
        )
    small = rng.sample(sorted(fresh), min(100, len(fresh)))
    with crm.begin() as conn:
        conn.exec_driver_sql("DROP TABLE scoring_bench_reference")
        conn.exec_driver_sql("DROP TABLE scoring_bench_dirty")

    # 3. new activity -> visible in the score (inline after commit)
    s = scoring_tables.scores
    latencies = []
    for contact_id in small[: args.latency_runs]:
        with crm.connect() as conn:
            before = conn.execute(
                sa.select(s.c.engagement).where(s.c.contact_id == contact_id)
            ).scalar()
        started = time.perf_counter()
        crm.activities.log(ACTOR, contact_id, "demo_requested")
        while True:
            with crm.connect() as conn:
                after = conn.execute(
                    sa.select(s.c.engagement, s.c.computed_at).where(s.c.contact_id == contact_id)
                ).first()
            if after is not None and after[0] != before:
                break
            if time.perf_counter() - started > 5:
                raise SystemExit(
                    f"activity on contact {contact_id} not visible in its score after 5 s"
                )
        latencies.append(time.perf_counter() - started)
    latencies.sort()
    p50, worst = latencies[len(latencies) // 2], latencies[-1]
    figures["latency_load"] = load()
    result = {
        "database": f"{dialect} {version}",
        "nproc": os.cpu_count(),
        "contacts": contacts,
        "activities": activities,
        "full_recompute_first_s": round(full_first, 2),
        "full_recompute_hourly_s": round(full, 2),
        "reference_single_statement_s": round(ref, 2),
        "full_first_vs_reference_ratio": round(full_first / ref, 2),
        "full_hourly_vs_reference_ratio": round(full / ref, 2),
        "score_mismatches": mismatches,
        "delta_contacts": len(dirty),
        "delta_s": round(delta, 2),
        "reference_delta_s": round(ref_delta, 2),
        "delta_vs_reference_ratio": round(delta / ref_delta, 2),
        "delta_score_mismatches": delta_mismatches,
        "new_activity_visible_p50_s": round(p50, 3),
        "new_activity_visible_max_s": round(worst, 3),
        "load_average_1min": figures,
        "database_cpu_s": CPU,
        "git": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),
    }
    print(json.dumps(result, indent=2))
    crm.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
