"""The pluggy markers every plugin uses: ``@hookimpl`` and ``@hookspec`` for project ``cultiveat``."""

from __future__ import annotations

import pluggy

PROJECT_NAME = "cultiveat"
ENTRY_POINT_GROUP = "cultiveat"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
