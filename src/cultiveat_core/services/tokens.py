"""API tokens: shown once, stored as a SHA-256 hash, scoped, expiring, revocable, last use kept.

Scopes are permission names (``contacts.read``) or prefixes (``contacts.*``); a scoped token
can do only what both its user's role and its scopes allow. No scopes: the role's rights.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from cultiveat_core.db import tables
from cultiveat_core.db.metadata import utcnow
from cultiveat_core.domain import Actor, User
from cultiveat_core.errors import NotFound, ValidationError
from cultiveat_core.services.unit_of_work import UnitOfWork, transaction
from cultiveat_core.services.users import row_to_user

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

t = tables.api_tokens
TOKEN_PREFIX = "cvt_"  # noqa: S105 - a public prefix, not a secret


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@attrs.frozen
class ApiToken:
    id: int
    user_id: int
    name: str
    prefix: str
    scopes: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenService:
    def __init__(self, crm: CRM) -> None:
        self.crm = crm
        self._cache: dict[str, tuple[float, Actor]] = {}
        self._lock = threading.Lock()

    def create(
        self,
        actor: Actor,
        user: User,
        *,
        name: str = "",
        scopes: tuple[str, ...] = (),
        expires_at: datetime | None = None,
        uow: UnitOfWork | None = None,
    ) -> tuple[ApiToken, str]:
        """Create a token for ``user``; the plain token is returned once and never stored."""
        if actor.user_id != user.id:
            self.crm.permissions.require(actor, "tokens.manage")
        scopes = self.check_scopes(scopes)
        if expires_at is not None and expires_at <= utcnow():
            raise ValidationError.field("expires_at", "must be in the future")
        plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with transaction(self.crm, actor, uow) as work:
            inserted = work.conn.execute(
                t.insert().values(
                    user_id=user.id,
                    name=name,
                    prefix=plain[:12],
                    token_hash=hash_token(plain),
                    scopes=list(scopes),
                    expires_at=expires_at,
                )
            )
            token_id = int(inserted.inserted_primary_key[0])  # type: ignore[index]
            work.audit(
                "token.create",
                "api_token",
                token_id,
                {"user_id": user.id, "name": name, "scopes": list(scopes)},
            )
            row = work.conn.execute(sa.select(t).where(t.c.id == token_id)).mappings().one()
        return self._to_token(row), plain

    def check_scopes(self, scopes: Any) -> tuple[str, ...]:
        if not isinstance(scopes, list | tuple) or not all(isinstance(x, str) for x in scopes):
            raise ValidationError.field(
                "scopes", "must be a list of permission names (or prefixes like contacts.*)"
            )
        known = self.crm.registry.permissions
        for scope in scopes:
            if scope == "*" or scope in known:
                continue
            if scope.endswith(".*") and any(p.startswith(scope[:-1]) for p in known):
                continue
            raise ValidationError.field(
                "scopes",
                f"unknown scope {scope!r}; use permission names from "
                "GET /api/permissions or a prefix such as contacts.*",
            )
        return tuple(dict.fromkeys(scopes))

    def list(self, actor: Actor, user_id: int | None = None) -> list[ApiToken]:
        """A user's tokens (one's own, or anyone's with ``tokens.manage``); never the secret."""
        user_id = actor.user_id if user_id is None else user_id
        if user_id != actor.user_id:
            self.crm.permissions.require(actor, "tokens.manage")
        with self.crm.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t).where(t.c.user_id == user_id).order_by(t.c.id)
            ).mappings()
            return [self._to_token(r) for r in rows]

    def get(self, actor: Actor, token_id: int) -> ApiToken:
        with self.crm.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.id == token_id)).mappings().first()
        if row is None or (row["user_id"] != actor.user_id and not actor.can("tokens.manage")):
            raise NotFound(f"token {token_id} does not exist")
        return self._to_token(row)

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    def _to_token(self, row: Any) -> ApiToken:
        return ApiToken(
            id=row["id"],
            user_id=row["user_id"],
            name=row["name"],
            prefix=row["prefix"],
            scopes=tuple(row["scopes"] or ()),
            created_at=row["created_at"],
            expires_at=row["expires_at"],
            last_used_at=row["last_used_at"],
            revoked_at=row["revoked_at"],
        )

    def cached(self, plain: str) -> Actor | None:
        """The actor for a token authenticated less than ``token_cache_seconds`` ago, without
        touching the database (None: not cached, ask ``authenticate``). No I/O, so the web
        layer calls it on the event loop and skips a worker-thread hop on most requests."""
        entry = self._cache.get(hash_token(plain))
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        return None

    def authenticate(self, plain: str) -> Actor | None:
        """The actor for a bearer token, or None when unknown, expired, revoked or inactive."""
        digest = hash_token(plain)
        now_mono = time.monotonic()
        with self._lock:
            cached = self._cache.get(digest)
        if cached and cached[0] > now_mono:
            return cached[1]
        now = utcnow()
        u = tables.users
        with self.crm.engine.connect() as conn:
            row = (
                conn.execute(
                    sa.select(
                        t.c.id.label("token_id"),
                        t.c.expires_at,
                        t.c.revoked_at,
                        t.c.last_used_at,
                        t.c.scopes,
                        u,
                    )
                    .join(u, u.c.id == t.c.user_id)
                    .where(t.c.token_hash == digest)
                )
                .mappings()
                .first()
            )
            if row is None or row["revoked_at"] is not None or not row["is_active"]:
                return None
            if row["expires_at"] is not None and row["expires_at"] <= now:
                return None
        last = row["last_used_at"]
        if last is None or (now - last).total_seconds() > 60:
            with self.crm.begin() as conn:
                conn.execute(t.update().where(t.c.id == row["token_id"]).values(last_used_at=now))
        actor = self.crm.users.actor_for(row_to_user(row), token_id=row["token_id"])
        if row["scopes"]:
            actor = attrs.evolve(actor, scopes=frozenset(row["scopes"]))
        ttl = self.crm.settings.token_cache_seconds
        if ttl > 0:
            with self._lock:
                self._cache[digest] = (now_mono + ttl, actor)
        return actor

    def revoke(self, actor: Actor, token_id: int, *, uow: UnitOfWork | None = None) -> None:
        with transaction(self.crm, actor, uow) as work:
            row = work.conn.execute(sa.select(t).where(t.c.id == token_id)).mappings().first()
            if row is None:
                raise NotFound(f"token {token_id} does not exist")
            if row["user_id"] != actor.user_id and not actor.can("tokens.manage"):
                raise NotFound(f"token {token_id} does not exist")
            work.conn.execute(t.update().where(t.c.id == token_id).values(revoked_at=utcnow()))
            work.audit("token.revoke", "api_token", token_id, {})
            work.on_commit(self._cache.clear)
