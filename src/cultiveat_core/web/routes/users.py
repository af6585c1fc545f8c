"""Users, roles, permissions and API tokens (``/api/users``, ``/api/roles``, ``/api/tokens``).

Bodies are msgspec structs that forbid unknown fields: a request cannot set anything an
endpoint does not declare (no mass assignment: no ``password_hash``, ``is_admin``, ``id``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, ClassVar, cast

import msgspec
from litestar import Controller, Request, delete, get, patch, post, put
from litestar.openapi.spec import Schema
from litestar.openapi.spec.enums import OpenAPIFormat, OpenAPIType
from litestar.params import Parameter
from msgspec import Meta

from cultiveat_core.crm import CRM
from cultiveat_core.db.metadata import utcnow
from cultiveat_core.domain import Actor, User
from cultiveat_core.services.tokens import ApiToken
from cultiveat_core.web.routes.auth import client_ip
from cultiveat_core.web.routes.bodies import Body, Email, documented

# database ids are 32-bit: a larger one is a 400 from validation, never a 500 from the driver
ObjectId = Annotated[int, Parameter(ge=1, le=2_147_483_647)]


# checked by the service (422): also at least 3 different characters, not a common password
# and not the email
Password = Annotated[
    str,
    documented("8 to 128 characters, not a common password", minLength=8, maxLength=128),
]
Role = Annotated[str, documented("an existing role (GET /api/roles)", format="role")]
ROLE_NAME = r"^[a-z][a-z0-9_-]{1,49}$"
PERMISSIONS = Schema(
    type=OpenAPIType.ARRAY,
    items=Schema(type=OpenAPIType.STRING, format=cast(OpenAPIFormat, "permission")),
    description="registered permission names (GET /api/permissions)",
)
SCOPES = Schema(
    type=OpenAPIType.ARRAY,
    items=Schema(type=OpenAPIType.STRING, format=cast(OpenAPIFormat, "scope")),
    description="permission names, prefixes such as contacts.* or *",
)


class NewUser(Body):
    """A user; with ``password`` the user can log in in the browser."""

    email: Email
    role: Role
    name: Annotated[str, Meta(max_length=200)] = ""
    password: Password | None = None


class UserChange(Body):
    """What to change about a user (fields left out or null keep their value)."""

    role: Role | None = None
    name: Annotated[str, Meta(max_length=200)] | None = None
    is_active: bool | None = None


class PasswordChange(Body):
    """One's new password, after the current one (a stolen session or token cannot change it)."""

    password: Password
    current_password: Annotated[str, Meta(min_length=1, max_length=1024)]


class RoleBody(Body):
    """The permissions a role holds."""

    __openapi_properties__: ClassVar[dict[str, Schema]] = {"permissions": PERMISSIONS}

    permissions: list[str]
    description: Annotated[str, Meta(max_length=500)] = ""


class NewToken(Body):
    """A new API token (``user_id``: another user's, with tokens.manage)."""

    __openapi_properties__: ClassVar[dict[str, Schema]] = {"scopes": SCOPES}

    name: Annotated[str, Meta(max_length=200)] = ""
    scopes: list[str] = msgspec.field(default_factory=list)
    expires_in_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] | None = 90
    user_id: Annotated[int, msgspec.Meta(ge=1, le=2_147_483_647)] | None = None


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "is_active": user.is_active,
        "created_at": user.created_at.isoformat() if user.created_at else None,
    }


def token_json(token: ApiToken) -> dict[str, Any]:
    def iso(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": token.id,
        "user_id": token.user_id,
        "name": token.name,
        "prefix": token.prefix,
        "scopes": list(token.scopes),
        "created_at": iso(token.created_at),
        "expires_at": iso(token.expires_at),
        "last_used_at": iso(token.last_used_at),
        "revoked_at": iso(token.revoked_at),
    }


class UserController(Controller):
    path = "/api/users"
    tags = ["users"]

    @get("/", sync_to_thread=True)
    def list_users(self, crm: CRM, actor: Actor) -> dict[str, Any]:
        return {"items": [user_json(u) for u in crm.users.list(actor)]}

    @post("/", sync_to_thread=True)
    def create_user(self, crm: CRM, actor: Actor, data: NewUser) -> dict[str, Any]:
        """Create a user; with ``password`` (policy-checked) the user can log in in the browser."""
        return user_json(crm.users.create(actor, data.email, data.role, name=data.name, password=data.password))

    @get("/me", sync_to_thread=True)
    def me(self, crm: CRM, actor: Actor) -> dict[str, Any]:
        """Who the caller is, what they may do, and whether MFA is set up."""
        if actor.user_id is None:
            return {"user": None, "permissions": sorted(actor.permissions)}
        user = crm.users.get_by_id(actor.user_id)
        return {
            "user": user_json(user),
            "permissions": sorted(p for p in crm.registry.permissions if actor.can(p)),
            "mfa_enrolled": crm.auth.mfa_enrolled(user.id),
            "scopes": sorted(actor.scopes or []),
        }

    @post("/me/password", sync_to_thread=True, status_code=204)
    def change_own_password(
        self, crm: CRM, actor: Actor, request: Request[Any, Any, Any], data: PasswordChange
    ) -> None:
        """Change one's own password after giving the current one; every session ends (log in
        again). A wrong current password answers 401 and counts towards the login lockout (429)."""
        if actor.user_id is None:
            from cultiveat_core.errors import ValidationError

            raise ValidationError.field("user", "only a user has a password")
        crm.auth.change_own_password(actor, data.current_password, data.password, ip=client_ip(request))

    @get("/{user_id:int}", sync_to_thread=True)
    def get_user(self, crm: CRM, actor: Actor, user_id: ObjectId) -> dict[str, Any]:
        if actor.user_id != user_id:
            crm.permissions.require(actor, "users.manage")
        return user_json(crm.users.get_by_id(user_id))

    @patch("/{user_id:int}", sync_to_thread=True)
    def update_user(self, crm: CRM, actor: Actor, user_id: ObjectId, data: UserChange) -> dict[str, Any]:
        """Change role, name or active flag (``users.manage``); a role change or a
        deactivation ends the user's sessions."""
        return user_json(crm.users.update(actor, user_id, role=data.role, name=data.name, is_active=data.is_active))

    @post("/{user_id:int}/password-reset", sync_to_thread=True, status_code=201)
    def reset_link(self, crm: CRM, actor: Actor, user_id: ObjectId) -> dict[str, Any]:
        """A single-use reset token (shown once; expires after ``password_reset_minutes``)."""
        crm.permissions.require(actor, "users.manage")
        user = crm.users.get_by_id(user_id)
        token = crm.auth.request_password_reset(user.email, request_id=actor.request_id)
        if token is None:
            from cultiveat_core.errors import Conflict

            raise Conflict(f"user {user_id} is inactive; reactivate it first")
        return {
            "token": token,
            "path": f"/auth/password-reset?token={token}",
            "expires_in_minutes": crm.settings.password_reset_minutes,
        }

    @delete("/{user_id:int}/mfa", sync_to_thread=True, status_code=204)
    def reset_mfa(self, crm: CRM, actor: Actor, user_id: ObjectId) -> None:
        """Remove a user's authenticator (lost device); they enrol again at the next login."""
        crm.users.get_by_id(user_id) if actor.can("users.manage") else None
        crm.auth.disable_totp(actor, user_id)

    @post("/{user_id:int}/sessions/revoke", sync_to_thread=True, status_code=200)
    def revoke_sessions(self, crm: CRM, actor: Actor, user_id: ObjectId) -> dict[str, int]:
        return {"revoked": crm.sessions.revoke_all(actor, user_id)}


class RoleController(Controller):
    path = "/api/roles"
    tags = ["roles"]

    @get("/", sync_to_thread=True)
    def list_roles(self, crm: CRM, actor: Actor) -> dict[str, Any]:
        crm.permissions.require(actor, "users.manage")
        return {"items": crm.permissions.describe_roles()}

    @put("/{name:str}", sync_to_thread=True)
    def define_role(
        self,
        crm: CRM,
        actor: Actor,
        name: Annotated[
            str,
            Parameter(
                description="lower-case letters, digits, - and _",
                schema_extra={"pattern": ROLE_NAME},
            ),
        ],
        data: RoleBody,
    ) -> dict[str, Any]:
        """Create a role or replace the permissions a role holds (``roles.manage``)."""
        return crm.permissions.define_role(actor, name, data.permissions, description=data.description)

    @delete("/{name:str}", sync_to_thread=True, status_code=204)
    def delete_role(self, crm: CRM, actor: Actor, name: str) -> None:
        crm.permissions.delete_role(actor, name)


@get("/api/permissions", sync_to_thread=True, tags=["roles"])
def list_permissions(crm: CRM, actor: Actor) -> dict[str, Any]:
    """Every registered permission, its description and default roles."""
    return {
        "items": [
            {"name": p.name, "description": p.description, "default_roles": list(p.default_roles)}
            for p in sorted(crm.registry.permissions.values(), key=lambda p: p.name)
        ]
    }


class TokenController(Controller):
    path = "/api/tokens"
    tags = ["tokens"]

    @get("/", sync_to_thread=True)
    def list_tokens(
        self,
        crm: CRM,
        actor: Actor,
        user_id: Annotated[
            int | None,
            Parameter(
                description="another user's tokens (tokens.manage)",
                schema_extra={"minimum": 1, "maximum": 2_147_483_647},
            ),
        ] = None,
    ) -> dict[str, Any]:
        return {"items": [token_json(t) for t in crm.tokens.list(actor, user_id)]}

    @post("/", sync_to_thread=True)
    def create_token(self, crm: CRM, actor: Actor, data: NewToken) -> dict[str, Any]:
        """A new token (its secret is in ``token``, shown this once). Scopes narrow the role;
        ``expires_in_days`` defaults to 90 (null: no expiry)."""
        if actor.user_id is None and data.user_id is None:
            from cultiveat_core.errors import ValidationError

            raise ValidationError.field("user_id", "say whose token this is")
        user_id = data.user_id if data.user_id is not None else actor.user_id
        if user_id != actor.user_id:
            crm.permissions.require(actor, "tokens.manage")
        user = crm.users.get_by_id(user_id)  # type: ignore[arg-type]
        expires = utcnow() + timedelta(days=data.expires_in_days) if data.expires_in_days else None
        token, plain = crm.tokens.create(
            actor, user, name=data.name[:200], scopes=tuple(data.scopes), expires_at=expires
        )
        return token_json(token) | {"token": plain}

    @delete("/{token_id:int}", sync_to_thread=True, status_code=204)
    def revoke_token(self, crm: CRM, actor: Actor, token_id: ObjectId) -> None:
        crm.tokens.revoke(actor, token_id)


USER_ROUTES = [UserController, RoleController, list_permissions, TokenController]
