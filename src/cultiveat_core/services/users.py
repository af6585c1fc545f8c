"""Users and their roles (the identity issue adds passwords, sessions and MFA)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from cultiveat_core.db import tables
from cultiveat_core.domain import Actor, User
from cultiveat_core.errors import Conflict, NotFound, ValidationError
from cultiveat_core.services.unit_of_work import UnitOfWork, transaction
from cultiveat_core.services.validation import normalise_email

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

u = tables.users


def row_to_user(row: Mapping[str, Any]) -> User:
    return User(id=row["id"], email=row["email"], role=row["role"], name=row["name"],
                is_active=row["is_active"], created_at=row["created_at"])


class UserService:
    def __init__(self, crm: CRM) -> None:
        self.crm = crm

    def create(
        self, actor: Actor, email: str, role: str, *, name: str = "", uow: UnitOfWork | None = None
    ) -> User:
        self.crm.permissions.require(actor, "users.manage")
        if role not in self.crm.permissions.roles():
            raise ValidationError.field("role", f"unknown role {role!r}; choose one of "
                                        + ", ".join(self.crm.permissions.roles()))
        try:
            _, key = normalise_email(email)
        except ValueError as exc:
            raise ValidationError.field("email", str(exc)) from None
        with transaction(self.crm, actor, uow) as work:
            if work.conn.execute(sa.select(u.c.id).where(u.c.email == key)).first():
                raise Conflict(f"a user with email {key} already exists")
            user_id = work.conn.execute(u.insert().values(email=key, role=role, name=name)).inserted_primary_key[0]
            work.audit("user.create", "user", user_id, {"email": key, "role": role})
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
            raise NotFound(f"no user with email {key}; create one with `cultiveat users create {key} --role ROLE`")
        return row_to_user(row)

    def list(self, actor: Actor) -> list[User]:
        self.crm.permissions.require(actor, "users.manage")
        with self.crm.engine.connect() as conn:
            return [row_to_user(r) for r in conn.execute(sa.select(u).order_by(u.c.id)).mappings()]

    def actor_for(self, user: User, *, token_id: int | None = None) -> Actor:
        return Actor(
            kind="user",
            user_id=user.id,
            email=user.email,
            role=user.role,
            permissions=self.crm.permissions.for_role(user.role),
            token_id=token_id,
        )
