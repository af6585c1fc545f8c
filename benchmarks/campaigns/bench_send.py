"""Campaign send benchmark: N recipients through Redis + Celery workers to an aiosmtpd sink,
with a worker SIGKILLed mid-send and restarted.

    nice python benchmarks/campaigns/bench_send.py --contacts 100000 --unsubscribed 1000

Measures messages/s (send request -> last message at the sink, kill and recovery included,
and the steady rate between 10% and 90%), workers' RSS over time (peak and samples), and
checks at the sink (Message-IDs per recipient): every recipient got exactly one message, no
unsubscribed contact got any. Reference in the same run: raw ``smtplib`` over one connection
to the same sink (what SMTP alone does on this machine). Uses PostgreSQL database
``bench_campaigns`` (recreated) and Redis database 12.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import smtplib
import subprocess
import sys
import threading
import time
from collections import defaultdict
from email.message import EmailMessage
from importlib.metadata import entry_points
from pathlib import Path

import redis
import sqlalchemy as sa

HERE = Path(__file__).parent
PY = sys.executable


def sh_env(args: argparse.Namespace, db_url: str) -> dict[str, str]:
    others = sorted(ep.name for ep in entry_points(group="cultiveat") if ep.name not in ("email", "campaigns"))
    return {
        **os.environ,
        "CULTIVEAT_DATABASE_URL": db_url,
        "CULTIVEAT_BROKER_URL": f"redis://127.0.0.1:6379/{args.redis_db}",
        "CULTIVEAT_SECRET_KEY": "bench-secret-" + "k" * 32,
        "CULTIVEAT_EMAIL_SMTP_URL": f"smtp://127.0.0.1:{args.port}",
        "CULTIVEAT_EMAIL_FROM": "Cultiveat <crm@cultiveat.test>",
        "CULTIVEAT_EMAIL_BATCH_SIZE": str(args.batch),
        "CULTIVEAT_PLUGINS_BLOCK": ",".join(others),
        "CULTIVEAT_CONSENT_DEFAULT": "granted",
        "CULTIVEAT_JOB_POLL_SECONDS": "0.5",
        "CULTIVEAT_CAMPAIGNS_PUBLIC_URL": "https://crm.cultiveat.test",
        "BENCH_LEASE_SECONDS": str(args.lease),
        # the outbox claim lease: rows in flight at the SIGKILL are resent (same Message-ID) after it
        "CULTIVEAT_EMAIL_SEND_LEASE_SECONDS": str(args.send_lease),
    }


def recreate_database(name: str) -> str:
    admin = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        version = conn.exec_driver_sql("SHOW server_version").scalar()
    admin.dispose()
    return str(version)


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


def tree_rss_kb(pid: int) -> int:
    """RSS of a worker and its children (Celery runs in the same process with --pool threads)."""
    total = rss_kb(pid)
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return total + sum(tree_rss_kb(int(c)) for c in children)


def threaded_rate(run, count: int, connections: int) -> float:
    """Messages per second of ``run(offset, n)`` split over ``connections`` threads."""
    per = count // connections
    threads = [threading.Thread(target=run, args=(k * per, per)) for k in range(connections)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return per * connections / (time.perf_counter() - started)


def smtp_reference(port: int, count: int, connections: int = 1) -> float:
    """Raw smtplib: ``connections`` threads, each one persistent connection, ``count`` messages."""
    def run(offset: int, n: int) -> None:
        conn = smtplib.SMTP("127.0.0.1", port)
        for i in range(offset, offset + n):
            msg = EmailMessage()
            msg["From"], msg["To"], msg["Subject"] = "crm@cultiveat.test", f"ref{i}@ref.invalid", "reference"
            msg["Message-ID"] = f"<ref{i}@cultiveat.test>"
            msg.set_content("Hi there, this is the reference message.")
            conn.sendmail("crm@cultiveat.test", [f"ref{i}@ref.invalid"], msg.as_bytes())
        conn.quit()

    return threaded_rate(run, count, connections)


def pipelined_reference(port: int, count: int, connections: int) -> float:
    """The plugin's own SMTP client (``SmtpSender``: one persistent connection per thread,
    PIPELINING when the sink advertises it) on prebuilt message bytes: no database, rendering
    or Celery."""
    from cultiveat_email.smtp import SmtpSender, parse_smtp_url

    def run(offset: int, n: int) -> None:
        sender = SmtpSender(parse_smtp_url(f"smtp://127.0.0.1:{port}"))
        for i in range(offset, offset + n):
            data = (f"From: crm@cultiveat.test\r\nTo: pref{i}@ref.invalid\r\nSubject: reference\r\n"
                    f"Message-ID: <pref{i}@cultiveat.test>\r\nMIME-Version: 1.0\r\n"
                    "Content-Type: text/plain; charset=utf-8\r\n\r\n"
                    "Hi there, this is the reference message.\r\n").encode()
            outcome = sender.send("crm@cultiveat.test", f"pref{i}@ref.invalid", data)
            assert outcome.kind == "sent", outcome
        sender.close()

    return threaded_rate(run, count, connections)


def cpu_seconds(pid: int) -> float:
    try:
        parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def named_cpu_seconds(name: str) -> float:
    """CPU of every process called ``name`` (PostgreSQL backends, redis-server): the whole
    machine's, so other users of the same server are counted too."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    total += cpu_seconds(int(entry.name))
            except OSError:
                continue
    return total


def start_worker(env: dict[str, str], concurrency: int, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["nice", PY, str(HERE / "worker.py"), "--concurrency", str(concurrency),
                             "--pool", "threads"], env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def count_lines(paths: list[Path]) -> int:
    total = 0
    for path in paths:
        with path.open("rb") as f:
            total += sum(1 for line in f if not line.startswith((b"ref", b"pref")))
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--unsubscribed", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--kill-at", type=float, default=0.3, help="SIGKILL a worker at this fraction sent")
    parser.add_argument("--lease", type=float, default=10.0)
    parser.add_argument("--send-lease", type=float, default=5.0)
    parser.add_argument("--sink-procs", type=int, default=2, help="aiosmtpd processes sharing the port")
    parser.add_argument("--plain-sink", action="store_true",
                        help="stock aiosmtpd sink (no PIPELINING advertised, asyncio loop)")
    parser.add_argument("--port", type=int, default=2526)
    parser.add_argument("--redis-db", type=int, default=12)
    parser.add_argument("--database", default="bench_campaigns")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--workdir", default="/tmp/bench_campaigns")
    args = parser.parse_args()

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    sink_files = [work / f"sink{i}.tsv" for i in range(args.sink_procs)]
    for sink_file in sink_files:
        sink_file.write_text("")
    pg_version = recreate_database(args.database)
    db_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{args.database}"
    env = sh_env(args, db_url)
    redis.Redis.from_url(env["CULTIVEAT_BROKER_URL"]).flushdb()
    os.environ.update({k: v for k, v in env.items() if k.startswith(("CULTIVEAT_", "BENCH_"))})

    from cultiveat_campaigns import consent, library, service
    from cultiveat_campaigns.tables import campaigns as campaign_table
    from cultiveat_campaigns.tables import recipients
    from cultiveat_email.tables import messages

    from cultiveat_core import Actor, create_crm
    from cultiveat_core.settings import Settings

    system = Actor.system("bench")
    crm = create_crm(Settings.from_env())
    crm.upgrade_database()
    started = time.perf_counter()
    ids: list[int] = []
    for start in range(0, args.contacts, 5000):
        rows = [{"email": f"c{i}@bench{i % 50}.example.com", "first_name": f"First{i}", "last_name": "Bench",
                 "company": f"Company {i // 8}", "position": "VP of Sales" if i % 3 else "", "tags": ["bench"]}
                for i in range(start, min(args.contacts, start + 5000))]
        ids += [c.id for c in crm.contacts.create_many(system, rows, source="import")]
    load_seconds = time.perf_counter() - started
    step = max(1, len(ids) // max(args.unsubscribed, 1))
    unsubscribed = ids[::step][: args.unsubscribed]
    for start in range(0, len(unsubscribed), 500):
        consent.withdraw(crm, system, unsubscribed[start:start + 500], "email_marketing", source="bench")
    with crm.connect() as conn:
        from cultiveat_core.db import tables as core

        unsub_emails = set(conn.execute(sa.select(core.contacts.c.email_key).where(
            core.contacts.c.id.in_(unsubscribed))).scalars())

    sink_cmd = ["--plain"] if args.plain_sink else []
    sinks = [subprocess.Popen(["nice", PY, str(HERE / "sink.py"), "--port", str(args.port), "--out", str(f),
                               *sink_cmd], start_new_session=True) for f in sink_files]
    time.sleep(5)
    load_before = os.getloadavg()
    reference = smtp_reference(args.port, 3000)
    threads_total = args.workers * args.concurrency
    reference_parallel = smtp_reference(args.port, 6000, threads_total)
    reference_pipelined = pipelined_reference(args.port, 6000, threads_total)
    load_samples = [os.getloadavg()[0]]
    workers = [start_worker(env, args.concurrency, work / f"worker{i}.log") for i in range(args.workers)]
    samples: list[tuple[float, int, list[int]]] = []
    killed_at = restarted_at = None
    cpu: dict[int, float] = {}
    try:
        template = library.create(crm, system, {
            "name": "Bench", "subject": "Hello {first_name}",
            "body_html": '<p>Hi {first_name} of {company_name}{% if position %}, {position}{% endif %}.</p>'
                         '<p><a href="https://cultiveat.example/offer">See the offer</a></p>',
            "body_text": "Hi {first_name} of {company_name}. https://cultiveat.example/offer"})
        campaign = service.create(crm, system, {"name": "Bench campaign", "template_id": template["id"],
                                                "audience": {"filter": {"tag": "bench"}}})
        t0 = time.perf_counter()
        pg_cpu0, redis_cpu0 = named_cpu_seconds("postgres"), named_cpu_seconds("redis-server")
        last_load = t0
        service.send(crm, system, campaign["id"])
        expected = args.contacts - len(unsubscribed)
        while time.perf_counter() - t0 < args.timeout:
            time.sleep(0.5)
            sent = count_lines(sink_files)
            samples.append((time.perf_counter() - t0, sent, [tree_rss_kb(w.pid) for w in workers]))
            for w in workers:
                cpu[w.pid] = cpu_seconds(w.pid) or cpu.get(w.pid, 0.0)
            if time.perf_counter() - last_load >= 10:
                load_samples.append(os.getloadavg()[0])
                last_load = time.perf_counter()
            if killed_at is None and sent >= args.kill_at * expected:
                os.killpg(workers[0].pid, signal.SIGKILL)
                workers[0].wait()
                killed_at = time.perf_counter() - t0
                time.sleep(2)
                workers[0] = start_worker(env, args.concurrency, work / "worker0.log")
                restarted_at = time.perf_counter() - t0
            with crm.connect() as conn:
                status = conn.execute(sa.select(campaign_table.c.status).where(
                    campaign_table.c.id == campaign["id"])).scalar()
            if status == "Completed":
                break
        total_seconds = time.perf_counter() - t0
        pg_cpu = named_cpu_seconds("postgres") - pg_cpu0
        redis_cpu = named_cpu_seconds("redis-server") - redis_cpu0
    finally:
        for w in workers:
            with _quiet():
                os.killpg(w.pid, signal.SIGTERM)
        for w in workers:
            try:
                w.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(w.pid, signal.SIGKILL)
        load_after = os.getloadavg()
        sink_cpu = sum(cpu_seconds(s.pid) for s in sinks)
        for sink in sinks:
            sink.send_signal(signal.SIGTERM)
        for sink in sinks:
            sink.wait(10)

    per_rcpt: dict[str, list[str]] = defaultdict(list)
    for sink_file in sink_files:
        for line in sink_file.read_text().splitlines():
            rcpt, mid = line.split("\t")
            if not rcpt.endswith("@ref.invalid"):
                per_rcpt[rcpt.lower()].append(mid)
    with crm.connect() as conn:
        wanted = set(conn.execute(sa.select(core.contacts.c.email_key).join(
            recipients, recipients.c.contact_id == core.contacts.c.id).where(
            recipients.c.campaign_id == campaign["id"], recipients.c.status != "excluded")).scalars())
        outbox = dict(conn.execute(sa.select(messages.c.status, sa.func.count()).group_by(messages.c.status)).all())
        rstatus = dict(conn.execute(sa.select(recipients.c.status, sa.func.count()).where(
            recipients.c.campaign_id == campaign["id"]).group_by(recipients.c.status)).all())
    got = sum(len(v) for v in per_rcpt.values())
    times = [(t, n) for t, n, _ in samples]
    first_t = next((t for t, n in times if n > 0), 0.0)
    last_t = next((t for t, n in times if n >= got), total_seconds)
    t10 = next((t for t, n in times if n >= 0.1 * got), first_t)
    t90 = next((t for t, n in times if n >= 0.9 * got), last_t)
    rss = [sum(r) for _, _, r in samples]
    result = {
        "nproc": os.cpu_count(), "postgresql": pg_version, "contacts": args.contacts,
        "unsubscribed": len(unsubscribed), "workers": args.workers, "threads_per_worker": args.concurrency,
        "batch": args.batch, "contacts_load_seconds": round(load_seconds, 1),
        "messages_at_sink": got, "seconds_send_to_last_message": round(last_t, 1),
        "messages_per_second_overall": round(got / last_t, 1) if last_t else None,
        "messages_per_second_10_to_90pct": round(0.8 * got / (t90 - t10), 1) if t90 > t10 else None,
        "reference_raw_smtplib_one_connection_msgs_per_s": round(reference, 1),
        f"reference_raw_smtplib_{threads_total}_connections_msgs_per_s": round(reference_parallel, 1),
        f"reference_raw_pipelined_{threads_total}_connections_msgs_per_s": round(reference_pipelined, 1),
        "ratio_steady_to_pipelined_reference": round(0.8 * got / (t90 - t10) / reference_pipelined, 2)
        if t90 > t10 else None,
        "ratio_steady_to_parallel_reference": round(0.8 * got / (t90 - t10) / reference_parallel, 2)
        if t90 > t10 else None,
        "workers_cpu_ms_per_message": round(1000 * sum(cpu.values()) / got, 2) if got else None,
        "sink_cpu_ms_per_message_incl_reference": round(1000 * sink_cpu / (got + 15000), 2),
        "postgresql_cpu_ms_per_message_whole_server": round(1000 * pg_cpu / got, 2) if got else None,
        "redis_cpu_ms_per_message_whole_server": round(1000 * redis_cpu / got, 2) if got else None,
        "load_average_1min_during_send_min_max": [min(load_samples), max(load_samples)],
        "sink_processes": args.sink_procs, "load_average_before": load_before, "load_average_after": load_after,
        "killed_worker_at_s": killed_at, "restarted_at_s": restarted_at,
        "recipients_expected": len(wanted),
        "recipients_exactly_one": sum(1 for e in wanted if len(per_rcpt.get(e, [])) == 1),
        "recipients_none": sum(1 for e in wanted if not per_rcpt.get(e)),
        "recipients_more_than_one": sum(1 for e in wanted if len(per_rcpt.get(e, [])) > 1),
        "recipients_with_two_distinct_message_ids": sum(1 for e in wanted if len(set(per_rcpt.get(e, []))) > 1),
        "recipients_exactly_one_distinct_message_id": sum(1 for e in wanted if len(set(per_rcpt.get(e, []))) == 1),
        "extra_copies_of_a_message_id": got - sum(len(set(v)) for v in per_rcpt.values()),
        "unsubscribed_who_received": sum(1 for e in unsub_emails if per_rcpt.get(e)),
        "outbox_status": outbox, "recipient_status": rstatus,
        "workers_rss_mb_peak": round(max(rss) / 1024, 1) if rss else None,
        "workers_rss_mb_at_10_50_90pct": [round(rss[int(len(rss) * f)] / 1024, 1) for f in (0.1, 0.5, 0.9)]
        if rss else None,
    }
    print(json.dumps(result, indent=2))
    (work / "result.json").write_text(json.dumps(result, indent=2))
    crm.close()
    return 0


class _quiet:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return True


if __name__ == "__main__":
    sys.exit(main())
