"""Every registered route is in the policy, and behaves as it says for every role.

The core's routes are checked on SQLite and PostgreSQL; routes of plugins installed in the
environment (entry points) are checked too, from each plugin's ``policy.toml``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from litestar.testing import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent))

from matrix import ROLES, World, app_routes, check_route, load_policy

from cultiveat_core.web import create_app


def run_matrix(crm, only: set[str] | None = None) -> tuple[int, list[str]]:
    app = create_app(crm, run_jobs=False)
    policy = load_policy()
    routes = app_routes(app)
    missing = [key for key in routes if key not in policy]
    assert not missing, (
        "routes missing from the policy (add them to the plugin's policy.toml; "
        "`python tests/policy/record.py --plugins` drafts entries):\n" + "\n".join(missing)
    )
    world = World(crm)
    problems: list[str] = []
    with TestClient(app, raise_server_exceptions=False) as client:
        world.client = client
        for key in routes:
            if only is None or key in only:
                problems.extend(check_route(crm, client, world, key, policy[key]))
    return len(routes) * (len(ROLES) + 1), problems


def test_core_routes_follow_the_policy(make_crm):
    cells, problems = run_matrix(make_crm(cookie_secure=False))
    print(f"\ncore route x role matrix: {cells} cells")
    assert not problems, "\n".join(problems)


def test_policy_entries_name_existing_core_routes(make_crm):
    crm = make_crm()
    app = create_app(crm, run_jobs=False)
    routes = set(app_routes(app))
    core = {k: v for k, v in load_policy().items() if v["source"].startswith("tests/policy/") and v["source"].count("/") == 2}
    stale = sorted(set(core) - routes)
    assert not stale, "policy entries for routes that no longer exist:\n" + "\n".join(stale)


def test_installed_plugins_routes_follow_the_policy(make_crm):
    """Every plugin installed in the environment (entry points) is loaded: its routes must be
    in a policy file, and behave as it says (SQLite is enough: the core's checks run on both)."""
    # webhooks enabled (a secret set) so unsigned calls are refused as such, not 503 "disabled"
    environ = {**os.environ, "CULTIVEAT_EMAIL_WEBHOOK_SECRET": "policy-webhook-secret"}
    crm = make_crm(load_entrypoints=True, cookie_secure=False, environ=environ)
    if crm.engine.dialect.name != "sqlite":
        pytest.skip("the plugin matrix runs once, on SQLite")
    failed = [r.name for r in crm.failed_plugins]
    assert not failed, f"plugins failed to load: {failed}"
    # The core's routes are checked on both databases above. Here every plugin route must be
    # in a policy file (missing -> fail above); behaviour is checked for the policies that
    # plugins ship themselves (plugins/*/policy.toml, examples/*/policy.toml). The recorded
    # drafts in tests/policy/plugins/ count for coverage until their owners review them.
    plugin_routes = {k for k, v in load_policy().items() if not v["source"].startswith("tests/")}
    cells, problems = run_matrix(crm, only=plugin_routes)
    print(f"\nroute x role matrix with installed plugins: {cells} cells")
    assert not problems, "\n".join(problems)


def test_tracking_pixel_reveals_nothing(make_crm):
    """``GET /t/{token}/o.gif`` answers anyone (mail clients have no login): the answer must be
    the same bytes and headers for a forged token, an authentic one for an unknown recipient,
    and garbage, so it confirms nothing about recipients or tokens."""
    tracking = pytest.importorskip("cultiveat_campaigns.tracking")
    crm = make_crm(load_entrypoints=True, cookie_secure=False)
    if crm.engine.dialect.name != "sqlite":
        pytest.skip("runs once, on SQLite")
    app = create_app(crm, run_jobs=False)
    tokens = ["garbage", tracking.token(crm, "c", 1), tracking.token(crm, "q", 987654),
              tracking.token(crm, "c", 1)[:-2] + "xx", "x" * 500]
    with TestClient(app, raise_server_exceptions=False) as client:
        answers = [client.get(f"/t/{t}/o.gif") for t in tokens]
    first = answers[0]
    assert first.status_code == 200 and first.headers["content-type"] == "image/gif"
    assert "no-store" in first.headers["cache-control"]
    for answer in answers:
        assert answer.status_code == first.status_code and answer.content == first.content
        assert {k: v for k, v in answer.headers.items() if k != "date"} == \
            {k: v for k, v in first.headers.items() if k != "date"}
        assert "set-cookie" not in answer.headers
