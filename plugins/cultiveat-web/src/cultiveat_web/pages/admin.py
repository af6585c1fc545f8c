"""``/admin``: users and roles, API tokens, installed plugins, the audit log.

Every page checks its permission (and the services check again); the admin link and each
section appear only to roles holding the permission.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from litestar import Response

from cultiveat_core.db import tables
from cultiveat_core.db.metadata import utcnow
from cultiveat_core.errors import Conflict, ValidationError
from cultiveat_core.privacy.encryption import reveal_sensitive_values
from cultiveat_web.pages.contact_form import field_errors
from cultiveat_web.routing import PageRequest, page_route, redirect

AUDIT_PAGE = 50
SECTIONS = (
    ("users", "Users and roles", "users.manage"),
    ("tokens", "API tokens", None),
    ("plugins", "Plugins", "plugins.read"),
    ("audit", "Audit log", "audit.read"),
)


def sections(req: PageRequest) -> list[tuple[str, str]]:
    return [(name, label) for name, label, permission in SECTIONS if req.viewer.can(permission)]


@page_route("/admin")
def admin_home(req: PageRequest) -> Response[Any]:
    return req.render("admin/home.html", title="Administration", sections=sections(req))


def _users_page(
    req: PageRequest,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response[Any]:
    return req.render(
        "admin/users.html",
        status=status,
        title="Users and roles",
        sections=sections(req),
        users=req.crm.users.list(req.actor),
        roles=req.crm.permissions.roles(),
        errors=errors or {},
        values=values or {},
    )


@page_route("/admin/users", methods=("GET", "POST"))
def admin_users(req: PageRequest) -> Response[Any]:
    req.crm.permissions.require(req.actor, "users.manage")
    if req.request.method == "GET":
        return _users_page(req)
    values = {k: req.param(k).strip() for k in ("email", "role", "name")}
    password = req.param("password") or None
    try:
        user = req.crm.users.create(
            req.actor, values["email"], values["role"], name=values["name"], password=password
        )
    except ValidationError as exc:
        return _users_page(req, errors=field_errors(exc), values=values, status=422)
    except Conflict as exc:
        return _users_page(req, errors={"email": exc.message}, values=values, status=409)
    return redirect("/admin/users", f"User {user.email} created with role {user.role}.")


@page_route("/admin/users/{user_id:int}", methods=("POST",))
def admin_update_user(req: PageRequest, user_id: int) -> Response[Any]:
    """Change a user's role or active flag (the service ends their sessions)."""
    role = req.param("role") or None
    active = {"1": True, "0": False}.get(req.param("is_active"))
    try:
        user = req.crm.users.update(req.actor, user_id, role=role, is_active=active)
    except ValidationError as exc:
        return _users_page(req, errors={"user": exc.message}, status=422)
    state = "active" if user.is_active else "deactivated"
    return redirect("/admin/users", f"{user.email}: role {user.role}, {state}.")


def _tokens_page(
    req: PageRequest,
    *,
    new_token: str | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response[Any]:
    user_id = _token_user(req)
    user = req.crm.users.get_by_id(user_id)
    users = req.crm.users.list(req.actor) if req.viewer.can("tokens.manage") else []
    return req.render(
        "admin/tokens.html",
        status=status,
        title="API tokens",
        sections=sections(req),
        tokens=req.crm.tokens.list(req.actor, user_id),
        owner=user,
        users=users,
        new_token=new_token,
        errors=errors or {},
        permissions=sorted(req.crm.registry.permissions),
    )


def _token_user(req: PageRequest) -> int:
    raw = req.param("user_id")
    if raw.isdigit() and int(raw) != req.actor.user_id:
        req.crm.permissions.require(req.actor, "tokens.manage")
        return int(raw)
    if req.actor.user_id is None:
        raise ValidationError.field("user_id", "choose the user whose tokens to manage")
    return int(req.actor.user_id)


@page_route("/admin/tokens", methods=("GET", "POST"))
def admin_tokens(req: PageRequest) -> Response[Any]:
    """One's own tokens, or any user's with ``tokens.manage``; a new token is shown once."""
    if req.request.method == "GET":
        return _tokens_page(req)
    user = req.crm.users.get_by_id(_token_user(req))
    days = req.param("expires_days").strip()
    scopes = [s.strip() for s in req.param("scopes").split(",") if s.strip()]
    if days and not days.isdigit():
        return _tokens_page(
            req,
            errors={"expires_days": "a whole number of days, or empty for no expiry"},
            status=422,
        )
    try:
        _, plain = req.crm.tokens.create(
            req.actor,
            user,
            name=req.param("name").strip() or "web",
            expires_at=utcnow() + timedelta(days=int(days)) if days else None,
            scopes=tuple(scopes),
        )
    except ValidationError as exc:
        return _tokens_page(req, errors=field_errors(exc), status=422)
    return _tokens_page(req, new_token=plain)


@page_route("/admin/tokens/{token_id:int}/revoke", methods=("POST",))
def admin_revoke_token(req: PageRequest, token_id: int) -> Response[Any]:
    token = req.crm.tokens.get(req.actor, token_id)
    req.crm.tokens.revoke(req.actor, token_id)
    suffix = f"?user_id={token.user_id}" if token.user_id != req.actor.user_id else ""
    return redirect(f"/admin/tokens{suffix}", f"Token {token.prefix}… revoked.")


@page_route("/admin/plugins")
def admin_plugins(req: PageRequest) -> Response[Any]:
    req.crm.permissions.require(req.actor, "plugins.read")
    return req.render(
        "admin/plugins.html",
        title="Plugins",
        sections=sections(req),
        plugins=req.crm.plugins_report(),
    )


@page_route("/admin/audit")
def admin_audit(req: PageRequest) -> Response[Any]:
    """Newest first, 50 a page, filtered by action, object type or actor (prefix match)."""
    req.crm.permissions.require(req.actor, "audit.read")
    log = tables.audit_log
    filters = {k: req.param(k).strip() for k in ("action", "object_type", "actor", "object_id")}
    query = sa.select(log).order_by(log.c.id.desc())
    for name in ("action", "object_type", "actor"):
        if filters[name]:
            query = query.where(log.c[name].like(filters[name].replace("%", "") + "%"))
    if filters["object_id"]:
        query = query.where(log.c.object_id == filters["object_id"])
    before = req.param("before")
    if before.isdigit():
        query = query.where(log.c.id < int(before))
    with req.crm.engine.connect() as conn:
        rows = conn.execute(query.limit(AUDIT_PAGE)).mappings().all()
    entries = [
        {
            **r,
            "changes_text": json.dumps(
                reveal_sensitive_values(req.crm, req.actor, r["changes"]), default=str, indent=1
            )[:4000],
        }
        for r in rows
    ]
    return req.render(
        "admin/audit.html",
        title="Audit log",
        sections=sections(req),
        entries=entries,
        filters=filters,
        page_size=AUDIT_PAGE,
    )


ROUTES = [
    admin_home,
    admin_users,
    admin_update_user,
    admin_tokens,
    admin_revoke_token,
    admin_plugins,
    admin_audit,
]
