"""The Cultiveat app as benchmarked: the core only (installed plugins are not loaded, so the
database needs only the core's migrations). ``uvicorn --factory benchmarks.cultiveat_app:create``."""

from __future__ import annotations

from litestar import Litestar

from cultiveat_core.crm import create_crm
from cultiveat_core.settings import Settings
from cultiveat_core.web import create_app


def create() -> Litestar:
    return create_app(create_crm(Settings.from_env(), load_entrypoints=False))
