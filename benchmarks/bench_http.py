"""HTTP benchmarks: contact list with a filter, search (common and rare terms) and KPIs,
authenticated with an API token, at 32 connections with ``wrk`` (a second process); the
reference is bare Litestar handlers running the same SQL (``benchmarks/bare_app.py``),
served the same way on the same machine.

    nice python benchmarks/bench_http.py --database-url postgresql://postgres@127.0.0.1/mybench
    nice python benchmarks/bench_http.py --database-url sqlite:////tmp/bench-100k.db

Both servers run at once (``--server uvicorn`` with uvloop/httptools, or ``granian``, each
with ``--workers`` processes); each path is measured in ``--rounds`` alternating runs
(Cultiveat, bare, bare, Cultiveat, ...) so that the shared machine's load falls on both
alike. Reported: the median requests/s, p50 and p99 over the rounds, the ratio of the
medians, the servers' own CPU time per request (summed over the server's processes from
/proc; much less sensitive to other load than req/s) and the 1-minute load average around
each run. Prints one JSON object and a
Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-" + "x" * 40


def wait_up(url: str, proc: subprocess.Popen[bytes], seconds: float = 300) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server for {url} exited ({proc.returncode}); is the database migrated?")
        try:
            urllib.request.urlopen(url, timeout=5)
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"server at {url} did not come up")


def serve(
    server: str, factory: str, port: int, env: dict[str, str], workers: int
) -> subprocess.Popen[bytes]:
    if server == "granian":
        args = [
            str(Path(sys.executable).with_name("granian")),
            "--interface",
            "asgi",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--loop",
            "uvloop",
            "--log-level",
            "warning",
            "--no-access-log",
            factory,
        ]
    else:
        args = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            factory,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--log-level",
            "warning",
            "--no-access-log",
        ]
    return subprocess.Popen(args, cwd=ROOT, env=env, start_new_session=True)


def to_ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def cpu_seconds(group: int) -> float:
    """CPU time (user + system) used so far by every process of a server's process group."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == group:  # pgrp
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def wrk(
    url: str, token: str | None, seconds: int, connections: int, threads: int, group: int
) -> dict[str, float]:
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "--latency"]
    script = None
    if token:
        script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)  # noqa: SIM115
        script.write(f'wrk.headers["Authorization"] = "Bearer {token}"\n')
        script.close()
        args += ["-s", script.name]
    load_before = load_average()
    cpu_before = cpu_seconds(group)
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(group) - cpu_before
    if script:
        os.unlink(script.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = to_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = to_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return {
        # the server's own CPU per request: unlike req/s, hardly affected by other load
        "cpu_ms_per_request": round(1000 * cpu / max(requests, 1), 3),
        "rps": rps,
        "p50_ms": p50,
        "p99_ms": p99,
        "non_2xx": int(errors.group(1)) if errors else 0,
        "load": round((load_before + load_average()) / 2, 2),
    }


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {
        key: round(statistics.median(r[key] for r in runs), 2)
        for key in ("rps", "p50_ms", "p99_ms", "cpu_ms_per_request", "load")
    } | {"non_2xx": sum(int(r["non_2xx"]) for r in runs)}


def make_token(url: str) -> str:
    from cultiveat_core.crm import create_crm
    from cultiveat_core.domain import Actor
    from cultiveat_core.settings import Settings

    crm = create_crm(Settings(database_url=url, secret_key=SECRET), load_entrypoints=False)
    system = Actor.system("bench")
    user = crm.users.create(system, f"bench-{uuid.uuid4().hex[:6]}@example.com", "marketing")
    _, plain = crm.tokens.create(system, user, name="bench")
    crm.close()
    return str(plain)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--server", choices=("uvicorn", "granian"), default="uvicorn")
    parser.add_argument("--common", default="smith")
    parser.add_argument("--rare", default="nakamura.4242")
    parser.add_argument("--only", help="comma-separated subset of: list_filtered, search_common, ...")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    url = args.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    env = {
        **os.environ,
        "CULTIVEAT_DATABASE_URL": url,
        "CULTIVEAT_SECRET_KEY": SECRET,
        "CULTIVEAT_EMBEDDED_WORKER": "false",
        "PYTHONPATH": str(ROOT),
    }
    token = make_token(url)
    paths = {
        "list_filtered": ("/api/contacts?stage=Hot%20Lead", "/bare/contacts?stage=Hot%20Lead"),
        "search_common": (f"/api/contacts?q={args.common}", f"/bare/contacts?q={args.common}"),
        "search_rare": (f"/api/contacts?q={args.rare}", f"/bare/contacts?q={args.rare}"),
        "kpis": ("/api/contacts/kpis", "/bare/kpis"),
    }
    if args.only:
        paths = {k: v for k, v in paths.items() if k in args.only.split(",")}
    ours = serve(args.server, "benchmarks.cultiveat_app:create", 8811, env, args.workers)
    bare = serve(args.server, "benchmarks.bare_app:create", 8812, env, args.workers)
    results: dict[str, dict[str, Any]] = {}
    try:
        wait_up("http://127.0.0.1:8811/health", ours)
        wait_up("http://127.0.0.1:8812/bare/kpis", bare)
        for name, (path, bare_path) in paths.items():
            # warm both (plans, pools, caches)
            wrk(f"http://127.0.0.1:8811{path}", token, 2, args.connections, args.threads, ours.pid)
            wrk(f"http://127.0.0.1:8812{bare_path}", None, 2, args.connections, args.threads, bare.pid)
            runs: dict[str, list[dict[str, float]]] = {"cultiveat": [], "bare_litestar": []}
            for round_ in range(args.rounds):
                order = ["cultiveat", "bare_litestar"]
                if round_ % 2:
                    order.reverse()
                for which in order:
                    target = (
                        f"http://127.0.0.1:8811{path}"
                        if which == "cultiveat"
                        else f"http://127.0.0.1:8812{bare_path}"
                    )
                    runs[which].append(
                        wrk(
                            target,
                            token if which == "cultiveat" else None,
                            args.seconds,
                            args.connections,
                            args.threads,
                            ours.pid if which == "cultiveat" else bare.pid,
                        )
                    )
            ours_m, bare_m = median_of(runs["cultiveat"]), median_of(runs["bare_litestar"])
            results[name] = {
                "cultiveat": ours_m,
                "bare_litestar": bare_m,
                "rps_ratio": round(ours_m["rps"] / bare_m["rps"], 3),
                "cpu_ratio": round(
                    ours_m["cpu_ms_per_request"] / max(bare_m["cpu_ms_per_request"], 1e-9), 3
                ),
                "rounds": runs,
            }
    finally:
        for proc in (ours, bare):
            os.killpg(proc.pid, 15)
            proc.wait()
    dialect = url.split(":", 1)[0].split("+")[0]
    print(
        json.dumps(
            {
                "database": dialect,
                "server": f"{args.server}, {args.workers} workers",
                "nproc": os.cpu_count(),
                "connections": args.connections,
                "seconds_per_run": args.seconds,
                "rounds": args.rounds,
                "results": results,
            },
            indent=2,
        )
    )
    print()
    print(
        "| variant | req/s | p50 ms | p99 ms | bare req/s | bare p99 ms | req/s ratio "
        "| CPU ms/req | bare CPU ms/req | load avg |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        o, b = r["cultiveat"], r["bare_litestar"]
        print(
            f"| {dialect} {name} | {o['rps']:.0f} | {o['p50_ms']:.1f} | {o['p99_ms']:.1f} | "
            f"{b['rps']:.0f} | {b['p99_ms']:.1f} | {r['rps_ratio']:.2f} | "
            f"{o['cpu_ms_per_request']:.2f} | {b['cpu_ms_per_request']:.2f} | {o['load']:.1f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
