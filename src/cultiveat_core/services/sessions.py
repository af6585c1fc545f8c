"""Server-side browser sessions stored in the database.

The cookie holds a random 256-bit id; the table holds only its SHA-256, so a database leak
does not hand out live sessions. A login always starts a new session (no fixation), a
session ends after ``session_idle_minutes`` without use or ``session_absolute_hours`` after
it started, and a user's sessions can be revoked at once (password change, admin action).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from cultiveat_core.db import tables
from cultiveat_core.db.metadata import utcnow
from cultiveat_core.domain import Actor, User
from cultiveat_core.services.unit_of_work import UnitOfWork, transaction

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

SESSION_COOKIE = "cultiveat_session"
# a session's last_seen_at is written at most this often (one write per minute, not per request)
TOUCH_INTERVAL = timedelta(seconds=60)
s = tables.sessions


def session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@attrs.frozen
class Session:
    id: str  # the secret cookie value (only known right after start())
    csrf_token: str
    user_id: int
    created_at: datetime
    expires_at: datetime
    mfa_passed: bool
    last_seen_at: datetime | None = None


@attrs.frozen
class SessionInfo:
    """What a user may see of one of their sessions: never the cookie value nor its hash.

    ``ref`` is the first 16 hex digits of the stored hash: enough to name the session for
    :meth:`SessionService.revoke`, useless as a credential.
    """

    ref: str
    ip: str | None
    user_agent: str | None
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    current: bool


REF_LENGTH = 16


class SessionService:
    def __init__(self, crm: CRM) -> None:
        self.crm = crm

    @property
    def idle(self) -> timedelta:
        return timedelta(minutes=self.crm.settings.session_idle_minutes)

    @property
    def absolute(self) -> timedelta:
        return timedelta(hours=self.crm.settings.session_absolute_hours)

    def cookie_attributes(self) -> dict[str, object]:
        """Keyword arguments for ``Response.set_cookie`` (the web plugin and /auth use them)."""
        return {
            "key": SESSION_COOKIE,
            "httponly": True,
            "samesite": "lax",
            "secure": self.crm.settings.cookie_secure,
            "path": "/",
        }

    def start(
        self,
        user: User,
        *,
        mfa_passed: bool,
        ip: str | None = None,
        user_agent: str | None = None,
        replaces: str | None = None,
    ) -> Session:
        """A new session (a new id every time: rotation); ``replaces`` ends the previous one."""
        session_id = secrets.token_urlsafe(32)
        csrf_token = secrets.token_urlsafe(32)
        now = utcnow()
        expires_at = now + self.absolute
        row: dict[str, Any] = {
            "id_hash": session_hash(session_id),
            "user_id": user.id,
            "csrf_token": csrf_token,
            "mfa_passed": mfa_passed,
            "ip": (ip or "")[:64] or None,
            "user_agent": (user_agent or "")[:300] or None,
            "created_at": now,
            "last_seen_at": now,
            "expires_at": expires_at,
        }
        with self.crm.begin() as conn:
            if replaces:
                conn.execute(
                    s.update()
                    .where(s.c.id_hash == session_hash(replaces), s.c.revoked_at.is_(None))
                    .values(revoked_at=now)
                )
            conn.execute(s.insert().values(**row))
        return Session(
            id=session_id,
            csrf_token=csrf_token,
            user_id=user.id,
            created_at=now,
            expires_at=expires_at,
            mfa_passed=mfa_passed,
            last_seen_at=now,
        )

    def resolve(self, session_id: str | None) -> Session | None:
        """The live session for a cookie value, or None (unknown, revoked, idle or expired)."""
        if not session_id:
            return None
        digest = session_hash(session_id)
        now = utcnow()
        with self.crm.engine.connect() as conn:
            row = conn.execute(sa.select(s).where(s.c.id_hash == digest)).mappings().first()
        if row is None or row["revoked_at"] is not None or row["expires_at"] <= now:
            return None
        if now - row["last_seen_at"] > self.idle:
            return None
        if now - row["last_seen_at"] > TOUCH_INTERVAL:
            with self.crm.begin() as conn:
                conn.execute(s.update().where(s.c.id_hash == digest).values(last_seen_at=now))
        return Session(
            id=session_id,
            csrf_token=row["csrf_token"],
            user_id=row["user_id"],
            created_at=row["created_at"],
            expires_at=row["expires_at"],
            mfa_passed=row["mfa_passed"],
            last_seen_at=row["last_seen_at"],
        )

    def end(self, session_id: str | None) -> None:
        if not session_id:
            return
        with self.crm.begin() as conn:
            conn.execute(
                s.update()
                .where(s.c.id_hash == session_hash(session_id), s.c.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )

    def revoke_all(self, actor: Actor, user_id: int, *, uow: UnitOfWork | None = None) -> int:
        """End every session of ``user_id`` (oneself, or anyone with ``users.manage``)."""
        if actor.user_id != user_id:
            self.crm.permissions.require(actor, "users.manage")
        with transaction(self.crm, actor, uow) as work:
            count = work.conn.execute(
                s.update()
                .where(s.c.user_id == user_id, s.c.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            ).rowcount
            work.audit("session.revoke_all", "user", user_id, {"sessions": count})
        return int(count or 0)

    def list_for_user(
        self, actor: Actor, user_id: int, *, current: str | None = None, limit: int = 50
    ) -> list[SessionInfo]:
        """``user_id``'s live sessions, most recently used first (oneself, or ``users.manage``).

        ``current`` is the caller's own cookie value, so its session is marked.
        """
        if actor.user_id != user_id:
            self.crm.permissions.require(actor, "users.manage")
        now = utcnow()
        current_hash = session_hash(current) if current else None
        with self.crm.engine.connect() as conn:
            rows = conn.execute(
                sa.select(s.c.id_hash, s.c.ip, s.c.user_agent, s.c.created_at, s.c.last_seen_at, s.c.expires_at)
                .where(
                    s.c.user_id == user_id,
                    s.c.revoked_at.is_(None),
                    s.c.expires_at > now,
                    s.c.last_seen_at > now - self.idle,
                )
                .order_by(s.c.last_seen_at.desc())
                .limit(limit)
            ).mappings()
            return [
                SessionInfo(
                    ref=r["id_hash"][:REF_LENGTH],
                    ip=r["ip"],
                    user_agent=r["user_agent"],
                    created_at=r["created_at"],
                    last_seen_at=r["last_seen_at"],
                    expires_at=r["expires_at"],
                    current=r["id_hash"] == current_hash,
                )
                for r in rows
            ]

    def revoke(self, actor: Actor, user_id: int, ref: str, *, uow: UnitOfWork | None = None) -> bool:
        """End one of ``user_id``'s sessions named by its ``ref`` (see :class:`SessionInfo`).

        Oneself, or anyone with ``users.manage``. Answers False when no live session of that
        user has that ref (already ended, or somebody else's); audited either way it ends one.
        """
        if actor.user_id != user_id:
            self.crm.permissions.require(actor, "users.manage")
        ref = (ref or "").strip().lower()
        if len(ref) != REF_LENGTH or any(c not in "0123456789abcdef" for c in ref):
            return False
        with transaction(self.crm, actor, uow) as work:
            count = work.conn.execute(
                s.update()
                .where(
                    s.c.user_id == user_id,
                    s.c.revoked_at.is_(None),
                    s.c.id_hash.like(ref + "%"),
                )
                .values(revoked_at=utcnow())
            ).rowcount
            if count:
                work.audit("session.revoke", "user", user_id, {"session": ref})
        return bool(count)

    def purge_expired(self) -> int:
        """Delete sessions that can no longer be used (the periodic cleanup job)."""
        cutoff = utcnow() - self.idle
        with self.crm.begin() as conn:
            return int(
                conn.execute(
                    s.delete().where(
                        sa.or_(
                            s.c.expires_at <= utcnow(),
                            s.c.revoked_at.is_not(None),
                            s.c.last_seen_at < cutoff,
                        )
                    )
                ).rowcount
                or 0
            )
