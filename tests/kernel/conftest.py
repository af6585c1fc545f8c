"""Kernel tests: real plugin distributions (a ``*.dist-info`` with ``entry_points.txt`` on a
temporary ``sys.path`` entry, exactly how ``importlib.metadata`` finds installed plugins), real
databases (the ``make_crm`` fixture: SQLite and PostgreSQL), real ``cultiveat`` processes."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from cultiveat_core.markers import ENTRY_POINT_GROUP

CLI = [sys.executable, "-m", "cultiveat_core.cli"]
# The test modules import the plugin sources in ``kernel_plugins.py`` next to this file
# (pytest runs with --import-mode=importlib, which does not add test folders to sys.path).
sys.path.insert(0, str(Path(__file__).parent))


class PluginDir:
    """A directory on ``sys.path`` holding throwaway plugin distributions."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.token = uuid.uuid4().hex[:8]
        self.modules: list[str] = []
        self.names: list[str] = []

    def module_name(self, name: str) -> str:
        return f"cvk_{name}_{self.token}"

    def add(self, name: str, source: str, *, files: dict[str, str] | None = None,
            version: str = "1.0") -> str:
        """Write plugin ``name`` (entry point ``name``) as a package; return its module path.

        ``source`` becomes ``<package>/plugin.py``; ``files`` are extra files in the package.
        """
        package = self.module_name(name)
        pkg_dir = self.root / package
        pkg_dir.mkdir()
        (pkg_dir / "__init__.py").write_text("")
        (pkg_dir / "plugin.py").write_text(textwrap.dedent(source))
        for relative, text in (files or {}).items():
            target = pkg_dir / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(text))
        dist = f"cultiveat_kt_{name}_{self.token}"
        info = self.root / f"{dist}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist.replace('_', '-')}\nVersion: {version}\n"
        )
        (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{name} = {package}.plugin\n")
        importlib.invalidate_caches()
        self.modules.append(package)
        self.names.append(name)
        return f"{package}.plugin"

    def distribution(self, name: str) -> str:
        return f"cultiveat-kt-{name}-{self.token}"

    def others_blocked(self) -> str:
        """Every installed entry point but ours: tests must not depend on other plugins."""
        installed = {ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
        return ",".join(sorted(installed - set(self.names)))

    def block(self, *extra: str) -> tuple[str, ...]:
        return tuple(n for n in [*self.others_blocked().split(","), *extra] if n)

    def env(self, **values: str) -> dict[str, str]:
        """Environment for a ``cultiveat`` subprocess that sees these plugins (and only them)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CULTIVEAT_")}
        env["PYTHONPATH"] = os.pathsep.join([str(self.root), env.get("PYTHONPATH", "")]).rstrip(
            os.pathsep)
        env["CULTIVEAT_PLUGINS_BLOCK"] = self.others_blocked()
        env["CULTIVEAT_LOG_LEVEL"] = "INFO"
        env.update(values)
        return env


@pytest.fixture
def plugin_dir(tmp_path_factory: pytest.TempPathFactory,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginDir]:
    root = tmp_path_factory.mktemp("plugins")
    monkeypatch.syspath_prepend(str(root))
    plugins = PluginDir(root)
    yield plugins
    for name in list(sys.modules):
        if any(name == m or name.startswith(m + ".") for m in plugins.modules):
            del sys.modules[name]


# Generous: shared CI machines can be very loaded; a passing run never waits this long.
CLI_TIMEOUT = 240.0


def run_cli(args: Sequence[str], env: dict[str, str], timeout: float = CLI_TIMEOUT,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, check=False)


def run_cli_many(commands: Sequence[Sequence[str]], env: dict[str, str],
                 timeout: float = CLI_TIMEOUT) -> list[subprocess.CompletedProcess[str]]:
    """Run several ``cultiveat`` commands at once (start-up dominates their time)."""
    procs = [subprocess.Popen([*CLI, *args], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for args in commands]
    results = []
    for args, proc in zip(commands, procs, strict=True):
        try:
            out, err = proc.communicate(timeout=timeout)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        results.append(subprocess.CompletedProcess([*CLI, *args], proc.returncode, out, err))
    return results
