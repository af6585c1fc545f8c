"""docs/index.md links only to files that exist, and lists every official plugin's page."""

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"
INDEX = DOCS / "index.md"


def linked_files() -> list[str]:
    return [target for target in re.findall(r"\]\(([^)#]+)\)", INDEX.read_text(encoding="utf-8"))
            if "://" not in target]


def test_every_link_points_at_an_existing_file() -> None:
    missing = [target for target in linked_files() if not (DOCS / target).exists()]
    assert missing == [], f"docs/index.md links to missing files: {missing}"


def test_every_plugin_page_is_listed() -> None:
    pages = {f"plugins/{page.name}" for page in (DOCS / "plugins").glob("*.md")}
    unlisted = sorted(pages - set(linked_files()))
    assert unlisted == [], f"add these pages to docs/index.md: {unlisted}"
