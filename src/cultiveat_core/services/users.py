"""Users and their roles; passwords, sessions and MFA live in ``auth``/``sessions``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from cultiveat_core.db import tables
from cultiveat_core.db.metadata import utcnow
from cultiveat_core.domain import Actor, User
from cultiveat_core.errors import Conflict, NotFound, ValidationError
from cultiveat_core.services.passwords import check_password
from cultiveat_core.services.unit_of_work import UnitOfWork, transaction
from cultiveat_core.services.validation import normalise_email

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

u = tables.users


def row_to_user(row: Mapping[str, Any] | sa.RowMapping) -> User:
    return User(
        id=row["id"],
        email=row["email"],
        role=row["role"],
        name=row["name"],
        is_active=row["is_active"],
        created_at=row["created_at"],
    )


class UserService:
    def __init__(self, crm: CRM) -> None:
        self.crm = crm

    def create(
        self,
        actor: Actor,
        email: str,
        role: str,
        *,
        name: str = "",
        password: str | None = None,
        uow: UnitOfWork | None = None,
    ) -> User:
        """Create a user (``users.manage``); with ``password`` it can log in in the browser."""
        self.crm.permissions.require(actor, "users.manage")
        if not isinstance(name, str) or len(name) > 200:
            raise ValidationError.field("name", "at most 200 characters")
        if role not in self.crm.permissions.roles():
            raise ValidationError.field(
                "role",
                f"unknown role {role!r}; choose one of " + ", ".join(self.crm.permissions.roles()),
            )
        try:
            _, key = normalise_email(email)
        except ValueError as exc:
            raise ValidationError.field("email", str(exc)) from None
        with transaction(self.crm, actor, uow) as work:
            if work.conn.execute(sa.select(u.c.id).where(u.c.email == key)).first():
                raise Conflict(f"a user with email {key} already exists")
            inserted = work.conn.execute(u.insert().values(email=key, role=role, name=name))
            user_id = int(inserted.inserted_primary_key[0])  # type: ignore[index]
            if password is not None:
                check_password(password, email=key)
                self.crm.auth._store_password(work.conn, user_id, password)
            work.audit(
                "user.create",
                "user",
                user_id,
                {"email": key, "role": role, "password_set": password is not None},
            )
            user = self.get_by_id(user_id, conn=work.conn)
        return user

    def get_by_id(self, user_id: int, *, conn: sa.Connection | None = None) -> User:
        query = sa.select(u).where(u.c.id == user_id)
        if conn is not None:
            row = conn.execute(query).mappings().first()
        else:
            with self.crm.engine.connect() as own:
                row = own.execute(query).mappings().first()
        if row is None:
            raise NotFound(f"user {user_id} does not exist")
        return row_to_user(row)

    def get_by_email(self, email: str) -> User:
        key = email.strip().lower()
        with self.crm.engine.connect() as conn:
            row = conn.execute(sa.select(u).where(u.c.email == key)).mappings().first()
        if row is None:
            raise NotFound(
                f"no user with email {key}; create one with "
                f"`cultiveat users create {key} --role ROLE`"
            )
        return row_to_user(row)

    def list(self, actor: Actor) -> list[User]:
        self.crm.permissions.require(actor, "users.manage")
        with self.crm.engine.connect() as conn:
            return [row_to_user(r) for r in conn.execute(sa.select(u).order_by(u.c.id)).mappings()]

    def update(
        self,
        actor: Actor,
        user_id: int,
        *,
        role: str | None = None,
        is_active: bool | None = None,
        name: str | None = None,
        uow: UnitOfWork | None = None,
    ) -> User:
        """Change a user's role, name or active flag (``users.manage``); audited before/after.
        Deactivating or changing the role ends the user's sessions."""
        self.crm.permissions.require(actor, "users.manage")
        if role is not None and role not in self.crm.permissions.roles():
            raise ValidationError.field(
                "role",
                f"unknown role {role!r}; choose one of " + ", ".join(self.crm.permissions.roles()),
            )
        if name is not None and (not isinstance(name, str) or len(name) > 200):
            raise ValidationError.field("name", "at most 200 characters")
        if is_active is not None and not isinstance(is_active, bool):
            raise ValidationError.field("is_active", "must be true or false")
        if actor.user_id == user_id and (
            is_active is False or (role is not None and role != actor.role)
        ):
            raise ValidationError.field(
                "user", "you cannot deactivate yourself or change your own role"
            )
        with transaction(self.crm, actor, uow) as work:
            old = self.get_by_id(user_id, conn=work.conn)
            values = {
                k: v
                for k, v in {"role": role, "is_active": is_active, "name": name}.items()
                if v is not None and getattr(old, k) != v
            }
            if values:
                work.conn.execute(
                    u.update().where(u.c.id == user_id).values(**values, updated_at=utcnow())
                )
                work.audit(
                    "user.update",
                    "user",
                    user_id,
                    {k: {"before": getattr(old, k), "after": v} for k, v in values.items()},
                )
                if "role" in values or values.get("is_active") is False:
                    work.conn.execute(
                        tables.sessions.update()
                        .where(
                            tables.sessions.c.user_id == user_id,
                            tables.sessions.c.revoked_at.is_(None),
                        )
                        .values(revoked_at=utcnow())
                    )
                    work.on_commit(self.crm.tokens.clear_cache)
            user = self.get_by_id(user_id, conn=work.conn)
        return user

    def actor_for(self, user: User, *, token_id: int | None = None) -> Actor:
        return Actor(
            kind="user",
            user_id=user.id,
            email=user.email,
            role=user.role,
            permissions=self.crm.permissions.for_role(user.role),
            token_id=token_id,
        )
