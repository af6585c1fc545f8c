"""Logs go to standard error, so ``--json`` output on standard output stays clean."""

from __future__ import annotations

import logging
import os
import sys


def configure_logging(level: str | None = None) -> None:
    level = level or os.environ.get("CULTIVEAT_LOG_LEVEL", "INFO")
    root = logging.getLogger()
    if any(getattr(h, "_cultiveat", False) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler._cultiveat = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("alembic").setLevel("WARNING")
