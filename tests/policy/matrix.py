"""The route x role policy: loading the policy files and checking one route against them.

Policy files are TOML (``tests/policy/*.toml`` for the core, ``policy.toml`` at the root of a
plugin or example package for its own routes), each with entries like::

    ["GET /api/contacts"]
    allow = ["admin", "marketing", "sales", "executive"]

    ["POST /api/contacts"]
    allow = ["admin", "marketing", "sales"]
    body = {email = "p-{role}@example.com", first_name = "P", last_name = "Q"}

``allow`` is a list of roles, ``"any"`` (every authenticated role) or ``"public"`` (no
authentication; the route is only checked not to fail). ``body`` is sent as JSON
(``{role}`` is replaced), ``params`` overrides path parameters, ``form`` is sent as an HTML
form. A path parameter that names a plugin's object is made by the admin through the API, from
the file's ``[_fixtures]`` table::

    [_fixtures.campaign_id]
    path = "/api/campaigns"             # POSTed as the admin; the answer's "id" is the value
    body = {name = "C", template_id = "{template_id}", audience = {contact_ids = ["{contact}"]}}

(``"{name}"`` inside a fixture body is another fixture's value or a fresh contact's id). Denied roles must get 401,
403 or 404 (or a redirect to /login for pages), change no row and, for a 403, leave a
``permission.denied`` audit record. Allowed roles must get neither 401/403 nor a 5xx.
"""

from __future__ import annotations

import re
import tomllib
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from cultiveat_core.db import metadata, tables
from cultiveat_core.domain import Actor

ROOT = Path(__file__).resolve().parents[2]
ROLES = ("admin", "marketing", "sales", "executive")
IGNORED_METHODS = {"OPTIONS", "HEAD"}
SYSTEM = Actor.system("policy")
PARAM = re.compile(r"\{(\w+)(?::(\w+))?\}")


def policy_files() -> list[Path]:
    files = sorted((ROOT / "tests" / "policy").glob("*.toml"))
    files.extend(sorted((ROOT / "tests" / "policy" / "plugins").glob("*.toml")))
    for pattern in ("plugins/*/policy.toml", "examples/*/policy.toml"):
        files.extend(sorted(ROOT.glob(pattern)))
    return files


FIXTURES: dict[str, dict[str, Any]] = {}


def load_policy(files: Iterable[Path] | None = None) -> dict[str, dict[str, Any]]:
    policy: dict[str, dict[str, Any]] = {}
    for path in files if files is not None else policy_files():
        for key, entry in tomllib.loads(path.read_text("utf-8")).items():
            if key == "_fixtures":
                FIXTURES.update(entry)
                continue
            if key in policy:
                raise AssertionError(f"{key} is in two policy files (second: {path})")
            allow = entry.get("allow")
            if allow not in ("any", "public") and not (
                isinstance(allow, list) and set(allow) <= set(ROLES)
            ):
                raise AssertionError(f"{path}: {key}: allow must be 'any', 'public' or a list of {ROLES}")
            policy[key] = dict(entry, source=str(path.relative_to(ROOT)))
    return policy


def app_routes(app: Any) -> list[str]:
    keys = []
    for route in app.routes:
        for method in sorted(set(getattr(route, "methods", ())) - IGNORED_METHODS):
            keys.append(f"{method} {route.path}")
    return keys


def allowed_roles(entry: dict[str, Any]) -> set[str]:
    allow = entry["allow"]
    return set(ROLES) if allow in ("any", "public") else set(allow)


class World:
    """The objects a route's path parameters point at, made fresh per route."""

    def __init__(self, crm: Any) -> None:
        self.crm = crm
        self.users = {role: crm.users.create(SYSTEM, f"{role}-{uuid.uuid4().hex[:6]}@example.com", role)
                      for role in ROLES}
        self.tokens = {role: crm.tokens.create(SYSTEM, user, name="policy")[1]
                       for role, user in self.users.items()}
        self.target = crm.users.create(SYSTEM, f"target-{uuid.uuid4().hex[:6]}@example.com", "sales")
        self._shared: dict[Any, dict[str, Any]] = {}
        self.client: Any = None  # set by the matrix run: fixtures are made through the API

    def fixture(self, name: str) -> Any:
        """A fresh object for the path parameter ``name``, made by the admin (``[_fixtures]``)."""
        spec = FIXTURES[name]
        body = self._resolve(spec.get("body", {}))
        headers = {"Authorization": f"Bearer {self.tokens['admin']}"}
        response = self.client.request(spec.get("method", "POST"), self._resolve(spec["path"]),
                                       json=body, headers=headers)
        assert response.status_code < 300, f"fixture {name}: {response.status_code} {response.text[:300]}"
        value = {"body": body, **response.json()} if isinstance(response.json(), dict) else response.json()
        for part in str(spec.get("id", "id")).split("."):  # "body.id": a value the admin sent
            value = value[int(part)] if isinstance(value, list) else value[part]
        return value

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
            name = value[1:-1]
            if name == "contact":
                return self.contact()
            if name in FIXTURES:
                return self.fixture(name)
        if isinstance(value, str):
            return value.replace("{uid}", uuid.uuid4().hex[:8])
        if isinstance(value, dict):
            return {k: self._resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._resolve(v) for v in value]
        return value

    def contact(self) -> int:
        admin = self.crm.users.actor_for(self.users["admin"])
        return int(self.crm.contacts.create(admin, {
            "email": f"c-{uuid.uuid4().hex[:8]}@example.com", "first_name": "Pol",
            "last_name": "Icy", "company": "Policy Ltd", "phone": "+1 555 0100"}).id)

    def params(self, path: str, overrides: dict[str, Any], fresh: bool = True) -> dict[str, Any]:
        """Values for the path parameters; ``fresh`` objects for unsafe methods, else shared."""
        if not fresh:
            key = (path, tuple(sorted(overrides.items())))
            if key not in self._shared:
                self._shared[key] = self.params(path, overrides)
            return self._shared[key]
        crm = self.crm
        admin = crm.users.actor_for(self.users["admin"])
        values: dict[str, Any] = {}
        for name, kind in PARAM.findall(path):
            if name in overrides:
                values[name] = self._resolve(overrides[name])
            elif name in FIXTURES:
                values[name] = self.fixture(name)
            elif name == "contact_id":
                values[name] = self.contact()
                activity = crm.activities.log(admin, values[name], "note", data={"text": "hello"})
                values.setdefault("activity_id", activity.id)
            elif name == "user_id":
                values[name] = self.target.id
            elif name == "token_id":
                values[name] = crm.tokens.create(SYSTEM, self.target, name="victim")[0].id
            elif name == "name":
                values[name] = "policyrole"
            elif kind == "int":
                values[name] = 1
            elif name not in values:
                values[name] = str(uuid.uuid4()) if kind == "str" else "x"
        return values


def snapshot(crm: Any) -> tuple[Any, ...]:
    """Row counts of every table but the audit log, plus the contacts' versions."""
    with crm.engine.connect() as conn:
        names = set(sa.inspect(conn).get_table_names())
        counts = [
            sa.select(sa.func.count()).select_from(t).scalar_subquery().label(t.name)
            for t in metadata.sorted_tables
            if t.name in names and t.name != tables.audit_log.name
        ]
        versions = sa.select(sa.func.coalesce(sa.func.sum(tables.contacts.c.version), 0)).scalar_subquery()
        return tuple(conn.execute(sa.select(*counts, versions)).one())


def denials(crm: Any) -> int:
    t = tables.audit_log
    with crm.engine.connect() as conn:
        return int(conn.execute(
            sa.select(sa.func.count()).select_from(t).where(t.c.action == "permission.denied")
        ).scalar() or 0)


def fill(value: Any, role: str, world: World) -> Any:
    """``{role}`` becomes the role; the string ``"{contact}"`` a fresh contact's id."""
    if value == "{contact}":
        return world.contact()
    if isinstance(value, str) and value.startswith("{") and value[1:-1] in FIXTURES:
        return world.fixture(value[1:-1])
    if isinstance(value, str):
        return value.replace("{role}", role).replace("{uid}", uuid.uuid4().hex[:8])
    if isinstance(value, dict):
        return {k: fill(v, role, world) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, role, world) for v in value]
    return value


def prepare(key: str, entry: dict[str, Any], world: World, role: str) -> tuple[str, dict[str, Any]]:
    """The URL for ``key`` with fresh objects behind its path parameters, and the request."""
    method, path = key.split(" ", 1)
    values = world.params(path, entry.get("params", {}), fresh=method not in ("GET", "HEAD"))
    kwargs: dict[str, Any] = {"follow_redirects": False}
    if "body" in entry:
        kwargs["json"] = fill(entry["body"], role, world)
    if "query" in entry:
        kwargs["params"] = fill(entry["query"], role, world)
    if "form" in entry:
        kwargs["data"] = fill(entry["form"], role, world)
    if "upload" in entry:
        kwargs["files"] = {"file": ("policy.csv", fill(entry["upload"], role, world), "text/csv")}
    return PARAM.sub(lambda m: str(values[m.group(1)]), path), kwargs


def call(client: Any, key: str, request: tuple[str, dict[str, Any]]) -> Any:
    url, kwargs = request
    return client.request(key.split(" ", 1)[0], url, **kwargs)


def is_denied(response: Any) -> bool:
    if response.status_code in (401, 403, 404):
        return True
    return 300 <= response.status_code < 400 and "/login" in response.headers.get("location", "")


def check_route(crm: Any, client: Any, world: World, key: str, entry: dict[str, Any]) -> list[str]:
    """Every role (denied ones first) and an anonymous caller against ``key``; returns problems."""
    problems: list[str] = []
    safe = key.split(" ", 1)[0] in ("GET", "HEAD")
    allowed = allowed_roles(entry)
    public = entry["allow"] == "public"
    order = ["anonymous", *[r for r in ROLES if r not in allowed], *[r for r in ROLES if r in allowed]]
    for role in order:
        client.headers.pop("Authorization", None)
        if role != "anonymous":
            client.headers["Authorization"] = f"Bearer {world.tokens[role]}"
        request = prepare(key, entry, world, role)
        # a GET cannot change data by HTTP semantics; unsafe methods are checked row by row
        before = None if safe else snapshot(crm)
        denied_before = denials(crm)
        response = call(client, key, request)
        status = response.status_code
        if status >= 500:
            problems.append(f"{key} as {role}: {status} server error: {response.text[:200]}")
        elif public:
            continue
        elif role == "anonymous" or role not in allowed:
            if not is_denied(response):
                problems.append(f"{key} as {role}: expected denied, got {status}: {response.text[:150]}")
                continue
            if before is not None and snapshot(crm) != before:
                problems.append(f"{key} as {role}: denied call changed data")
            if status == 403 and key.split(" ", 1)[1].startswith("/api") and denials(crm) <= denied_before:
                problems.append(f"{key} as {role}: 403 was not audited as permission.denied")
        elif status in (401, 403):
            problems.append(f"{key} as {role}: expected allowed, got {status}: {response.text[:150]}")
    client.headers.pop("Authorization", None)
    return problems
