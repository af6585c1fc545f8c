"""Developer sessions: `nox -s tests`, `nox -s isolated`, `nox -s lint`, `nox -s typecheck`, `nox -s bench`.

`isolated` runs each plugin's and example's tests in a virtualenv holding only the core and
that package's declared dependencies, proving plugins stay plugins.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "typecheck", "tests", "isolated"]
ROOT = Path(__file__).parent
PACKAGES = sorted(
    str(p.parent.relative_to(ROOT))
    for pattern in ("plugins/*/pyproject.toml", "examples/*/pyproject.toml")
    for p in ROOT.glob(pattern)
    if (p.parent / "tests").is_dir()
)


def local_distributions() -> dict[str, str]:
    """Distribution name -> folder, for every package in this repository."""
    found = {"cultiveat-core": "."}
    for pyproject in ROOT.glob("*/*/pyproject.toml"):
        name = tomllib.loads(pyproject.read_text())["project"]["name"]
        found[name] = str(pyproject.parent.relative_to(ROOT))
    return found


def declared_local_dependencies(package: str) -> list[str]:
    """Folders of the repository's distributions that ``package`` declares (recursively),
    through its dependencies and its ``test`` extra."""
    local = local_distributions()
    seen: list[str] = []
    todo = [package]
    while todo:
        current = todo.pop()
        project = tomllib.loads((ROOT / current / "pyproject.toml").read_text())["project"]
        declared = list(project.get("dependencies", []))
        if current == package:
            declared += project.get("optional-dependencies", {}).get("test", [])
        for requirement in declared:
            name = re.split(r"[\s\[<>=!~;@]", requirement, maxsplit=1)[0].lower()
            if name in local and local[name] not in seen and local[name] != ".":
                seen.append(local[name])
                todo.append(local[name])
    return seen


@nox.session(python="3.11")
def tests(session: nox.Session) -> None:
    """Everything installed together: core, plugins and examples, on every configured database."""
    session.install("-r", "requirements/dev.txt")
    session.run("pytest", *session.posargs)


@nox.session(python="3.11")
@nox.parametrize("package", PACKAGES)
def isolated(session: nox.Session, package: str) -> None:
    """One plugin with only the core and its declared dependencies."""
    editables = [arg for dep in declared_local_dependencies(package) for arg in ("-e", dep)]
    session.install("-e", ".[test]", *editables, "-e", f"{package}[test]")
    session.run("pytest", f"{package}/tests", "-q", "-p", "no:cacheprovider", *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.5")
    session.run("ruff", "check", "src", "tests", "plugins", "examples", "benchmarks")


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the core."""
    session.install("-e", ".[test,dev]")
    session.run("mypy", "src/cultiveat_core")


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Run every benchmark script at its default (small) size; pass sizes through posargs."""
    session.install("-r", "requirements/dev.txt")
    for script in sorted(ROOT.glob("benchmarks/**/*.py")):
        if script.name.startswith(("bench_", "kernel_")):
            session.run("python", str(script), *session.posargs)
