"""Draft policy entries for routes missing from the policy, from observed behaviour.

``python tests/policy/record.py [--plugins]`` prints TOML for every route the policy files do
not list yet: a role counts as allowed when it gets neither 401/403/404 nor a redirect to
/login. It is a DRAFT: review it against the plugin's permissions (a body that fails
validation hides a missing permission check), add ``body`` where needed, then save it as the
plugin's ``policy.toml``.
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path

from litestar.testing import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent))

from matrix import ROLES, World, app_routes, call, is_denied, load_policy, prepare

from cultiveat_core.crm import create_crm
from cultiveat_core.settings import Settings
from cultiveat_core.web import create_app


def owner_of(crm: object, app: object, key: str) -> str:
    """The plugin whose route handler serves ``key`` (from the handler's module)."""
    method, path = key.split(" ", 1)
    for route in app.routes:  # type: ignore[attr-defined]
        if route.path == path:
            for handler in getattr(route, "route_handlers", ()):
                if method in handler.http_methods:
                    return str(handler.fn.__module__).split(".")[0]
    return "?"


def main() -> None:
    warnings.simplefilter("ignore")
    plugins = "--plugins" in sys.argv
    url = f"sqlite:///{tempfile.mkdtemp()}/policy.db"
    crm = create_crm(Settings(database_url=url, secret_key="x" * 40, token_cache_seconds=0.0),
                     load_entrypoints=plugins)
    crm.upgrade_database()
    app = create_app(crm, check_database=False, run_jobs=False)
    policy = load_policy()
    world = World(crm)
    client = TestClient(app, raise_server_exceptions=False)
    for key in app_routes(app):
        if key in policy:
            continue
        print(f"# plugin: {owner_of(crm, app, key)}")
        allowed = []
        for role in ROLES:
            client.headers["Authorization"] = f"Bearer {world.tokens[role]}"
            response = call(client, key, prepare(key, {}, world, role))
            if not is_denied(response):
                allowed.append(role)
        print(f'["{key}"]\nallow = {allowed!r}\n'.replace("'", '"'))


if __name__ == "__main__":
    main()
