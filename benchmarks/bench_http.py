"""HTTP benchmarks: contact list with a filter, search (common and rare terms) and KPIs,
authenticated, at 32 connections with ``wrk`` from a second process; the reference is a bare
Litestar handler running the same SQL (``benchmarks/bare_app.py``) on the same machine.

    python benchmarks/bench_http.py --database-url postgresql://postgres@127.0.0.1/cultiveat_bench_500k

Prints one JSON object (requests/s, p50, p99 per path, and the ratios) and a table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def wait_up(url: str, seconds: float = 240) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"server at {url} did not come up")


def serve(factory: str, port: int, env: dict[str, str], workers: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            factory,
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
    )


def to_ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(url: str, token: str | None, seconds: int, connections: int) -> dict[str, float]:
    script = None
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if token:
        script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)  # noqa: SIM115
        script.write(f'wrk.headers["Authorization"] = "Bearer {token}"\n')
        script.close()
        args[1:1] = ["-s", script.name]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    if script:
        os.unlink(script.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = to_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = to_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50_ms": p50,
        "p99_ms": p99,
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def make_token(url: str) -> str:
    from cultiveat_core.crm import create_crm
    from cultiveat_core.domain import Actor
    from cultiveat_core.settings import Settings

    crm = create_crm(
        Settings(database_url=url, secret_key="bench-" + "x" * 40), load_entrypoints=False
    )
    system = Actor.system("bench")
    user = crm.users.create(system, f"bench-{uuid.uuid4().hex[:6]}@example.com", "marketing")
    _, plain = crm.tokens.create(system, user, name="bench")
    crm.close()
    return str(plain)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rare", default="nakamura.4242")
    args = parser.parse_args()
    url = args.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    env = {
        **os.environ,
        "CULTIVEAT_DATABASE_URL": url,
        "CULTIVEAT_SECRET_KEY": "bench-" + "x" * 40,
        "CULTIVEAT_EMBEDDED_WORKER": "false",
        "CULTIVEAT_TOKEN_CACHE_SECONDS": "30",
        "PYTHONPATH": str(ROOT),
    }
    token = make_token(url)
    paths = {
        "list_filtered": ("/api/contacts?stage=Hot%20Lead", "/bare/contacts?stage=Hot%20Lead"),
        "search_common": ("/api/contacts?q=smith", "/bare/contacts?q=smith"),
        "search_rare": (f"/api/contacts?q={args.rare}", f"/bare/contacts?q={args.rare}"),
        "kpis": ("/api/contacts/kpis", None),
    }
    results: dict[str, dict[str, object]] = {}
    app = serve("benchmarks.cultiveat_app:create", 8811, env, args.workers)
    try:
        wait_up("http://127.0.0.1:8811/health")
        for name, (path, _) in paths.items():
            results[name] = {
                "cultiveat": wrk(
                    f"http://127.0.0.1:8811{path}", token, args.seconds, args.connections
                )
            }
    finally:
        app.terminate()
        app.wait()
    bare = serve("benchmarks.bare_app:create", 8812, env, args.workers)
    try:
        wait_up("http://127.0.0.1:8812/bare/contacts?stage=Lost")
        for name, (_, path) in paths.items():
            if path:
                ref = wrk(f"http://127.0.0.1:8812{path}", None, args.seconds, args.connections)
                results[name]["bare_litestar"] = ref
                results[name]["rps_ratio"] = round(
                    results[name]["cultiveat"]["rps"] / ref["rps"], 3
                )  # type: ignore[index]
    finally:
        bare.terminate()
        bare.wait()
    print(
        json.dumps(
            {"nproc": os.cpu_count(), "connections": args.connections, "results": results}, indent=2
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
