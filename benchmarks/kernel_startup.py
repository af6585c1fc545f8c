"""Kernel start-up and event dispatch, each against a reference measured in the same run.

    python benchmarks/kernel_startup.py [--runs 5] [--events 10000]

1. Start-up: ``create_crm`` + ``create_app`` with 0 and with 10 plugins (ten trivial plugin
   distributions generated in a temporary directory and found through their entry points,
   like installed ones; every other installed plugin is blocked so the counts are exact).
   Measured in-process (imports warm) and as a fresh process
   (``python -c`` importing the core and building both); the best of ``--runs`` interleaved.
2. Event dispatch: ``--events`` ``contact_created`` events fired as one transaction's batch
   through ``crm.events.fire`` with 0, 1 and 10 listeners, per event in microseconds;
   references: calling the listeners directly in a loop, and pluggy's own hook call.
   Plus one event per transaction (per-commit overhead: the hand-off to the event thread).

Prints a table; ``nproc`` and versions are printed with it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from cultiveat_core import hookimpl

PLUGIN = '''
from litestar import get

from cultiveat_core import ActivityType, Permission, hookimpl


@get("/api/bench{i}/ping", sync_to_thread=False)
def ping() -> dict:
    return {{"plugin": {i}}}


@hookimpl
def register_routes(crm):
    return [ping]


@hookimpl
def register_activity_types(crm):
    return [ActivityType("bench{i}_done", "Bench {i} done")]


@hookimpl
def register_permissions(crm):
    return [Permission("bench{i}.read", "Read bench {i}")]


@hookimpl
def contact_created(crm, contact):
    pass
'''


def make_plugins(root: Path, count: int) -> list[str]:
    names = []
    for i in range(count):
        package = root / f"cvbench_{i}"
        package.mkdir()
        (package / "__init__.py").write_text("")
        (package / "plugin.py").write_text(textwrap.dedent(PLUGIN.format(i=i)))
        info = root / f"cultiveat_bench_{i}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: cultiveat-bench-{i}\n"
                                       "Version: 1.0\n")
        (info / "entry_points.txt").write_text(f"[cultiveat]\nbench{i} = cvbench_{i}.plugin\n")
        names.append(f"bench{i}")
    return names


def installed_plugins() -> list[str]:
    import importlib.metadata

    return sorted(ep.name for ep in importlib.metadata.entry_points(group="cultiveat")
                  if not ep.name.startswith("bench"))


START_SNIPPET = """
import time
t = time.perf_counter()
from cultiveat_core import Settings, create_crm
from cultiveat_core.web import create_app
crm = create_crm(Settings.from_env())
create_app(crm, check_database=False, run_jobs=False)
print(time.perf_counter() - t)
"""


def startup_once(plugin_root: Path, block: list[str], db_url: str) -> dict[str, float]:
    from cultiveat_core import Settings, create_crm
    from cultiveat_core.web import create_app

    settings = Settings(database_url=db_url, plugins_block=tuple(block))
    started = time.perf_counter()
    crm = create_crm(settings)
    crm_only = time.perf_counter() - started
    create_app(crm, check_database=False, run_jobs=False)
    warm = time.perf_counter() - started
    crm.close()
    env = {**os.environ, "PYTHONPATH": str(plugin_root), "CULTIVEAT_DATABASE_URL": db_url,
           "CULTIVEAT_PLUGINS_BLOCK": ",".join(block), "CULTIVEAT_LOG_LEVEL": "ERROR"}
    out = subprocess.run([sys.executable, "-c", START_SNIPPET], env=env, check=True,
                         capture_output=True, text=True).stdout
    return {"crm": crm_only, "warm": warm, "cold": float(out.strip().splitlines()[-1])}


def startup(plugin_root: Path, blocks: dict[int, list[str]], db_url: str,
            runs: int) -> dict[int, dict[str, float]]:
    """The best of ``runs`` for each plugin count, runs interleaved (shared, noisy machines:
    the minimum is the least disturbed measurement, and interleaving spreads the noise)."""
    found: dict[int, list[dict[str, float]]] = {count: [] for count in blocks}
    for _ in range(runs):
        for count, block in blocks.items():
            found[count].append(startup_once(plugin_root, block, db_url))
    return {count: {kind: min(r[kind] for r in results) for kind in ("crm", "warm", "cold")}
            for count, results in found.items()}


class Listener:
    def __init__(self, i: int) -> None:
        self.cultiveat_plugin_name = f"listener{i}"
        self.count = 0

    @hookimpl
    def contact_created(self, crm: object, contact: object) -> None:
        self.count += 1


def dispatch(db_url: str, listeners: int, events: int) -> dict[str, float]:
    from cultiveat_core import Actor, create_crm
    from cultiveat_core.events import Event
    from cultiveat_core.hookcalls import implementations
    from cultiveat_core.settings import Settings

    plugins = [Listener(i) for i in range(listeners)]
    # Built-in listeners (the core's own, e.g. consent bookkeeping on contacts_created) are
    # blocked: the figures are the dispatcher's cost with exactly ``listeners`` listeners.
    probe = create_crm(Settings(database_url=db_url), load_entrypoints=False)
    builtin = tuple({impl.plugin_name for hook in ("contact_created", "contacts_created")
                     for impl in implementations(probe.pm, hook)})
    probe.close()
    crm = create_crm(Settings(database_url=db_url, plugins_block=builtin), plugins=plugins,
                     load_entrypoints=False)
    contact = crm.contacts.get(Actor.system("bench"), 1)
    batch = [Event("contact_created", {"contact": contact}) for _ in range(events)]

    def best(run: Callable[[], None], count: int, repeats: int = 3) -> float:
        timings = []
        for _ in range(repeats):
            started = time.perf_counter()
            run()
            timings.append((time.perf_counter() - started) / count)
        return min(timings)

    def direct_calls() -> None:
        for _ in range(events):
            for plugin in plugins:
                plugin.contact_created(crm, contact)

    def pluggy_calls() -> None:
        for _ in range(events):
            crm.pm.hook.contact_created(crm=crm, contact=contact)

    def single_commits() -> None:
        for _ in range(singles):
            crm.events.fire([batch[0]])

    singles = max(events // 10, 100)
    fired = best(lambda: crm.events.fire(batch), events)
    direct = best(direct_calls, events)
    pluggy_call = best(pluggy_calls, events)
    single = best(single_commits, singles)
    crm.close()
    assert all(p.count == 3 * (events * 3 + singles) for p in plugins)  # each saw every one
    return {"fire": fired, "direct": direct, "pluggy": pluggy_call, "single": single}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--events", type=int, default=10_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "plugins").mkdir()
        make_plugins(root / "plugins", 10)
        sys.path.insert(0, str(root / "plugins"))
        importlib.invalidate_caches()
        db_url = f"sqlite:///{root / 'bench.db'}"

        from cultiveat_core import Actor, Settings, create_crm

        setup = create_crm(Settings(database_url=db_url), load_entrypoints=False)
        setup.upgrade_database()
        setup.contacts.create(Actor.system("bench"), {"email": "bench@example.com",
                                                      "first_name": "Ben", "last_name": "Ch"})
        setup.close()

        others = installed_plugins()
        bench = [f"bench{i}" for i in range(10)]
        timed = startup(root / "plugins", {0: others + bench, 10: others}, db_url, args.runs)
        zero, ten = timed[0], timed[10]
        results = {n: dispatch(db_url, n, args.events) for n in (0, 1, 10)}

    import sqlalchemy

    print(f"nproc {os.cpu_count()}, Python {sys.version.split()[0]}, SQLAlchemy "
          f"{sqlalchemy.__version__}, SQLite file database; start-up: best of {args.runs} "
          f"interleaved runs; load average {os.getloadavg()[0]:.1f}")
    print()
    print("start-up (create_crm + create_app)   0 plugins   10 plugins   ratio 10/0")
    for kind, label in (("crm", "create_crm alone, imports warm"),
                        ("warm", "in-process, imports warm"),
                        ("cold", "fresh process, with imports")):
        print(f"  {label:<33} {zero[kind] * 1000:8.1f} ms {ten[kind] * 1000:9.1f} ms"
              f" {ten[kind] / zero[kind]:9.2f}x")
    print()
    print(f"event dispatch, {args.events:,} contact_created in one transaction (us per event)")
    print("  listeners   crm.events.fire   direct calls (ref)   pluggy hook (ref)   fire/direct"
          "   per single-event commit")
    for n, r in results.items():
        ratio = f"{r['fire'] / r['direct']:9.1f}x" if n else "        -"
        print(f"  {n:>9} {r['fire'] * 1e6:14.2f} {r['direct'] * 1e6:17.2f} {r['pluggy'] * 1e6:19.2f}"
              f"   {ratio} {r['single'] * 1e6:18.1f}")


if __name__ == "__main__":
    main()
