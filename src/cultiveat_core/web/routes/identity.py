"""Every identity route module in one list (auth, users, roles, tokens, audit, privacy)."""

from __future__ import annotations

from typing import Any

from cultiveat_core.web.routes.audit import AUDIT_ROUTES
from cultiveat_core.web.routes.auth import AUTH_ROUTES
from cultiveat_core.web.routes.privacy import PRIVACY_ROUTES
from cultiveat_core.web.routes.users import USER_ROUTES

IDENTITY_ROUTES: list[Any] = [*AUTH_ROUTES, *USER_ROUTES, *AUDIT_ROUTES, *PRIVACY_ROUTES]
