"""docs/writing-a-plugin.md works when followed literally: its files make a plugin whose own
tests pass.

Every file of the page is a bold path followed by a code block; a later block for the same
path replaces the earlier one (the page shows ``plugin.py`` again, grown). The plugin's tests
run in a separate pytest process, with the plugin importable but not installed, exactly as
the page's conftest loads it (``make_crm(plugins=[...])``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "writing-a-plugin.md"
FILE_BLOCK = re.compile(r"^\*\*`(?P<path>[^`]+)`\*\*[^\n]*\n\n```[a-z]*\n(?P<body>.*?)^```", re.M | re.S)


def page_files() -> dict[str, str]:
    files: dict[str, str] = {}
    for match in FILE_BLOCK.finditer(PAGE.read_text(encoding="utf-8")):
        files[match["path"]] = match["body"]
    return files


def test_the_page_has_every_file_of_the_plugin() -> None:
    assert set(page_files()) >= {
        "pyproject.toml", "src/cultiveat_greeter/__init__.py", "src/cultiveat_greeter/settings.py",
        "src/cultiveat_greeter/routes.py", "src/cultiveat_greeter/cli.py",
        "src/cultiveat_greeter/plugin.py", "src/cultiveat_greeter/tables.py",
        "src/cultiveat_greeter/service.py", "src/cultiveat_greeter/waves.py",
        "src/cultiveat_greeter/migrations/versions/greeter_0001_waves.py",
        "tests/conftest.py", "tests/test_greeter.py", "tests/test_waves.py",
    }


def test_the_plugin_built_from_the_page_passes_its_tests(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    root = tmp_path / "cultiveat-greeter"
    for relative, body in page_files().items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body, encoding="utf-8")
    databases = request.config.getoption("--cultiveat-db")
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider",
         f"--cultiveat-db={databases}", "-W", "ignore::DeprecationWarning"],
        cwd=root, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout.strip().splitlines()[-1]
