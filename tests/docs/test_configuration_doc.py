"""docs/configuration.md names every core setting's environment variable."""

from pathlib import Path

import attrs
import pytest

from cultiveat_core import Settings

CONFIGURATION_MD = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
RAW_SOURCES = {"environ", "file_data"}  # kept for plugin settings, not settings themselves


def core_variables() -> list[str]:
    fields = [f.name for f in attrs.fields(Settings) if f.name not in RAW_SOURCES]
    return ["CULTIVEAT_CONFIG", *(f"CULTIVEAT_{name.upper()}" for name in fields)]


@pytest.mark.parametrize("variable", core_variables())
def test_setting_is_documented(variable: str) -> None:
    assert f"`{variable}`" in CONFIGURATION_MD.read_text(encoding="utf-8"), (
        f"{variable} is a core setting (src/cultiveat_core/settings.py) missing from docs/configuration.md"
    )
