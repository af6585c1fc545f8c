"""Logging in: passwords, throttling and lockout, TOTP second factor, password resets.

Failed attempts are rows in ``core_login_failures`` (so every process sees them): after
``login_max_failures`` failures for an email within ``login_lockout_minutes`` the account is
locked for that long, and one address may fail at most ``login_ip_max_failures`` times in
the same window. While locked, attempts are refused without being counted, so the lock
cannot be extended forever by an attacker. Logins, failures, lockouts and MFA changes are
audited. The session itself is ``crm.sessions``'s business.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from cultiveat_core.db import tables
from cultiveat_core.db.metadata import utcnow
from cultiveat_core.domain import Actor, User
from cultiveat_core.errors import AccountLocked, AuthenticationFailed, NotFound, ValidationError
from cultiveat_core.services import mfa
from cultiveat_core.services.passwords import (
    check_password,
    hash_password,
    needs_rehash,
    verify_password,
)
from cultiveat_core.services.unit_of_work import UnitOfWork, transaction
from cultiveat_core.services.users import row_to_user

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

log = logging.getLogger("cultiveat.auth")
u = tables.users
ua = tables.user_auth
lf = tables.login_failures
pr = tables.password_resets


@attrs.frozen
class LoginResult:
    user: User
    mfa_required: bool
    mfa_enrolment_required: bool = False  # MFA is required for the role but not set up yet


def anonymous(label: str, request_id: str | None = None) -> Actor:
    """Who failed logins are attributed to in the audit log."""
    return Actor(kind="anonymous", email=label[:320], request_id=request_id)


def _minutes(delta: timedelta) -> int:
    return max(1, int(-(-delta.total_seconds() // 60)))


class AuthService:
    def __init__(self, crm: CRM) -> None:
        self.crm = crm

    @property
    def window(self) -> timedelta:
        return timedelta(minutes=self.crm.settings.login_lockout_minutes)

    # -- password login -------------------------------------------------------------------

    def login(
        self, email: str, password: str, *, ip: str | None = None, request_id: str | None = None
    ) -> LoginResult:
        key = (email or "").strip().lower()
        self._check_not_locked(key, ip)
        with self.crm.engine.connect() as conn:
            row = (
                conn.execute(
                    sa.select(u, ua.c.totp_enabled_at)
                    .select_from(u.outerjoin(ua, ua.c.user_id == u.c.id))
                    .where(u.c.email == key)
                )
                .mappings()
                .first()
            )
        ok = verify_password(row["password_hash"] if row else None, password or "")
        if row is None or not ok or not row["is_active"]:
            self._record_failure(
                key,
                ip,
                row["id"] if row else None,
                request_id,
                "inactive" if row is not None and ok else "bad credentials",
            )
            raise AuthenticationFailed(
                "email or password is wrong (or the account is disabled); after "
                f"{self.crm.settings.login_max_failures} failed attempts the account is locked for "
                f"{self.crm.settings.login_lockout_minutes} minutes"
            )
        user = row_to_user(dict(row))
        enrolled = row["totp_enabled_at"] is not None
        role_requires = user.role in self.crm.settings.mfa_roles
        actor = attrs.evolve(self.crm.users.actor_for(user), request_id=request_id)
        mfa_required = enrolled or role_requires
        with transaction(self.crm, actor) as work:
            if not mfa_required:  # with MFA, failures are cleared once the second factor passes
                work.conn.execute(lf.delete().where(lf.c.email_key == key))
            if needs_rehash(row["password_hash"]):
                work.conn.execute(
                    u.update()
                    .where(u.c.id == user.id)
                    .values(password_hash=hash_password(password))
                )
            work.audit("auth.login", "user", user.id, {"ip": ip, "mfa_pending": mfa_required})
        return LoginResult(
            user=user,
            mfa_required=mfa_required,
            mfa_enrolment_required=role_requires and not enrolled,
        )

    def _failures_since(
        self, conn: sa.Connection, column: Any, value: str, since: datetime
    ) -> tuple[int, Any]:
        return tuple(
            conn.execute(  # type: ignore[return-value]
                sa.select(sa.func.count(), sa.func.max(lf.c.occurred_at)).where(
                    column == value, lf.c.occurred_at > since
                )
            ).one()
        )

    def _check_not_locked(self, key: str, ip: str | None) -> None:
        now = utcnow()
        since = now - self.window
        settings = self.crm.settings
        with self.crm.engine.connect() as conn:
            count, last = self._failures_since(conn, lf.c.email_key, key, since)
            if count >= settings.login_max_failures and last is not None:
                wait = _minutes(last + self.window - now)
                raise AccountLocked(
                    f"too many failed logins for this account; try again in {wait} minutes "
                    "(or ask an administrator to reset your password)",
                    retry_after=wait * 60,
                )
            if ip:
                count, last = self._failures_since(conn, lf.c.ip, ip, since)
                if count >= settings.login_ip_max_failures and last is not None:
                    wait = _minutes(last + self.window - now)
                    raise AccountLocked(
                        f"too many failed logins from your address; try again in {wait} minutes",
                        retry_after=wait * 60,
                    )

    def _record_failure(
        self, key: str, ip: str | None, user_id: int | None, request_id: str | None, reason: str
    ) -> None:
        with transaction(self.crm, anonymous(key, request_id)) as work:
            work.conn.execute(
                lf.insert().values(email_key=key[:320], ip=(ip or None), occurred_at=utcnow())
            )
            work.audit(
                "auth.login_failed", "user", user_id, {"email": key, "ip": ip, "reason": reason}
            )

    # -- second factor ----------------------------------------------------------------------

    def mfa_required_for(self, user: User) -> bool:
        """True when the role requires MFA (``CULTIVEAT_MFA_ROLES``) or the user enrolled."""
        return user.role in self.crm.settings.mfa_roles or self.mfa_enrolled(user.id)

    def mfa_enrolled(self, user_id: int) -> bool:
        with self.crm.engine.connect() as conn:
            return (
                conn.execute(
                    sa.select(ua.c.totp_enabled_at).where(ua.c.user_id == user_id)
                ).scalar()
                is not None
            )

    def verify_totp(
        self, user_id: int, code: str, *, ip: str | None = None, request_id: str | None = None
    ) -> bool:
        """Check a TOTP or recovery code; each is accepted once. Failures count towards lockout."""
        user = self.crm.users.get_by_id(user_id)
        self._check_not_locked(user.email, ip)
        actor = attrs.evolve(self.crm.users.actor_for(user), request_id=request_id)
        with transaction(self.crm, actor) as work:
            secret = work.conn.execute(
                sa.select(ua.c.totp_secret).where(ua.c.user_id == user_id)
            ).scalar()
            step = (
                mfa.matching_step(self.crm.cipher.decrypt(secret) or "", code) if secret else None
            )
            method = None
            if step is not None and mfa.claim_step(work.conn, user_id, step):
                method = "totp"
            elif step is None and secret and mfa.use_recovery_code(work.conn, user_id, code or ""):
                method = "recovery_code"
            if method is not None:
                work.conn.execute(lf.delete().where(lf.c.email_key == user.email))
                work.audit("auth.mfa_passed", "user", user_id, {"method": method})
                return True
        reason = "code already used" if step is not None else "wrong code"
        self._record_failure(user.email, ip, user_id, request_id, f"mfa: {reason}")
        return False

    def start_totp_enrolment(
        self, actor: Actor, *, uow: UnitOfWork | None = None
    ) -> tuple[str, str, str]:
        """A new pending secret for the actor: ``(secret, otpauth_uri, qr_svg)``."""
        user = self._acting_user(actor)
        secret = mfa.new_secret()
        with transaction(self.crm, actor, uow) as work:
            self._ensure_auth_row(work.conn, user.id)
            work.conn.execute(
                ua.update()
                .where(ua.c.user_id == user.id)
                .values(totp_pending_secret=self.crm.cipher.encrypt(secret))
            )
            work.audit("auth.mfa_enrolment_started", "user", user.id, {})
        uri = mfa.provisioning_uri(secret, user.email)
        return secret, uri, mfa.qr_svg(uri)

    def confirm_totp_enrolment(
        self, actor: Actor, code: str, *, uow: UnitOfWork | None = None
    ) -> list[str]:
        """Activate the pending secret when ``code`` matches; returns 10 recovery codes (once)."""
        user = self._acting_user(actor)
        with transaction(self.crm, actor, uow) as work:
            pending = work.conn.execute(
                sa.select(ua.c.totp_pending_secret).where(ua.c.user_id == user.id)
            ).scalar()
            if not pending:
                raise ValidationError.field(
                    "code", "start the enrolment first (a new secret and QR code)"
                )
            step = mfa.matching_step(self.crm.cipher.decrypt(pending) or "", code)
            if step is None:
                raise ValidationError.field(
                    "code",
                    "the code does not match; check the authenticator app's "
                    "clock and type the current 6-digit code",
                )
            work.conn.execute(
                ua.update()
                .where(ua.c.user_id == user.id)
                .values(
                    totp_secret=pending,
                    totp_pending_secret=None,
                    totp_enabled_at=utcnow(),
                    totp_last_step=step,
                )
            )
            codes = mfa.new_recovery_codes()
            mfa.replace_recovery_codes(work.conn, user.id, codes)
            work.audit("auth.mfa_enabled", "user", user.id, {"recovery_codes": len(codes)})
        return codes

    def regenerate_recovery_codes(self, actor: Actor) -> list[str]:
        user = self._acting_user(actor)
        if not self.mfa_enrolled(user.id):
            raise ValidationError.field("mfa", "set up the authenticator app first")
        codes = mfa.new_recovery_codes()
        with transaction(self.crm, actor) as work:
            mfa.replace_recovery_codes(work.conn, user.id, codes)
            work.audit("auth.recovery_codes_regenerated", "user", user.id, {})
        return codes

    def disable_totp(self, actor: Actor, user_id: int, *, uow: UnitOfWork | None = None) -> None:
        """Remove a user's second factor (oneself, or an admin resetting a lost device)."""
        if actor.user_id != user_id:
            self.crm.permissions.require(actor, "users.manage")
        with transaction(self.crm, actor, uow) as work:
            work.conn.execute(
                ua.update()
                .where(ua.c.user_id == user_id)
                .values(totp_secret=None, totp_pending_secret=None, totp_enabled_at=None)
            )
            work.conn.execute(
                tables.recovery_codes.delete().where(tables.recovery_codes.c.user_id == user_id)
            )
            work.audit("auth.mfa_disabled", "user", user_id, {})
            work.on_commit(lambda: self._end_sessions(user_id))

    def _end_sessions(self, user_id: int) -> None:
        self.crm.sessions.revoke_all(Actor.system("mfa reset"), user_id)

    def _acting_user(self, actor: Actor) -> User:
        if actor.user_id is None:
            raise ValidationError.field("user", "only a signed-in user has their own password and authenticator")
        return self.crm.users.get_by_id(actor.user_id)

    @staticmethod
    def _ensure_auth_row(conn: sa.Connection, user_id: int) -> None:
        if conn.execute(sa.select(ua.c.user_id).where(ua.c.user_id == user_id)).first() is None:
            conn.execute(ua.insert().values(user_id=user_id))

    # -- passwords --------------------------------------------------------------------------

    def set_password(
        self, actor: Actor, user_id: int, new_password: str, *, uow: UnitOfWork | None = None
    ) -> None:
        """Change a password (oneself, or ``users.manage``); every session of the user ends."""
        if actor.user_id != user_id:
            self.crm.permissions.require(actor, "users.manage")
        with transaction(self.crm, actor, uow) as work:
            row = work.conn.execute(sa.select(u.c.email).where(u.c.id == user_id)).first()
            if row is None:
                raise NotFound(f"user {user_id} does not exist")
            check_password(new_password, email=row[0])
            self._store_password(work.conn, user_id, new_password)
            work.audit("user.password_set", "user", user_id, {"by_self": actor.user_id == user_id})
            work.conn.execute(
                tables.sessions.update()
                .where(tables.sessions.c.user_id == user_id, tables.sessions.c.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )

    def change_own_password(
        self, actor: Actor, current_password: str, new_password: str, *, ip: str | None = None
    ) -> None:
        """Change one's own password after proving the current one (ASVS: re-authentication).

        A wrong current password counts towards the login lockout (so a stolen session cannot
        guess it) and is audited as ``user.password_change_failed``, not as a login; a locked
        account gets the lockout error. The new password follows :meth:`set_password`'s rules
        and every session of the user ends.
        """
        user = self._acting_user(actor)
        key = user.email.strip().lower()
        self._check_not_locked(key, ip)
        with self.crm.engine.connect() as conn:
            stored = conn.execute(sa.select(u.c.password_hash).where(u.c.id == user.id)).scalar()
        if not verify_password(stored, current_password or ""):
            with transaction(self.crm, actor) as work:
                work.conn.execute(
                    lf.insert().values(email_key=key[:320], ip=(ip or None), occurred_at=utcnow())
                )
                work.audit("user.password_change_failed", "user", user.id, {"ip": ip})
            raise AuthenticationFailed(
                "the current password is wrong; failed attempts count towards the lockout "
                f"({self.crm.settings.login_max_failures} in "
                f"{self.crm.settings.login_lockout_minutes} minutes)"
            )
        self.set_password(actor, user.id, new_password)

    def _store_password(self, conn: sa.Connection, user_id: int, password: str) -> None:
        conn.execute(
            u.update().where(u.c.id == user_id).values(password_hash=hash_password(password))
        )
        self._ensure_auth_row(conn, user_id)
        conn.execute(
            ua.update().where(ua.c.user_id == user_id).values(password_changed_at=utcnow())
        )
        conn.execute(
            lf.delete().where(
                lf.c.email_key == sa.select(u.c.email).where(u.c.id == user_id).scalar_subquery()
            )
        )

    def request_password_reset(self, email: str, *, request_id: str | None = None) -> str | None:
        """A single-use reset token for an active user (None for unknown emails: the caller
        answers the same either way and mails the link). It does not bypass MFA: it only
        sets the password; the next login still asks for the second factor."""
        key = (email or "").strip().lower()
        with self.crm.engine.connect() as conn:
            row = (
                conn.execute(sa.select(u).where(u.c.email == key, u.c.is_active.is_(True)))
                .mappings()
                .first()
            )
        if row is None:
            return None
        plain = secrets.token_urlsafe(32)
        now = utcnow()
        with transaction(self.crm, anonymous(key, request_id)) as work:
            work.conn.execute(
                pr.insert().values(
                    token_hash=hashlib.sha256(plain.encode()).hexdigest(),
                    user_id=row["id"],
                    created_at=now,
                    expires_at=now + timedelta(minutes=self.crm.settings.password_reset_minutes),
                )
            )
            work.audit("auth.password_reset_requested", "user", row["id"], {})
        return plain

    def forgot_password(
        self,
        email: str,
        link_base: str,
        *,
        ip: str | None = None,
        request_id: str | None = None,
        wait: bool = False,
    ) -> None:
        """The public "forgot password" request: the same outcome whether or not ``email`` is a
        user's. Throttled per address (``password_reset_max_per_email`` an hour: more are
        dropped silently) and per client address (``password_reset_max_per_ip``: 429). The
        token is made and mailed (``CULTIVEAT_MAIL_URL``; logged when unset) in a background
        thread, so the answer takes the same time for known and unknown addresses."""
        key = (email or "").strip().lower()
        settings = self.crm.settings
        now = utcnow()
        since = now - timedelta(hours=1)
        with self.crm.engine.connect() as conn:
            if ip:
                count, last = self._failures_since(conn, lf.c.ip, f"reset:{ip}", since)
                if count >= settings.password_reset_max_per_ip and last is not None:
                    wait_minutes = _minutes(last + timedelta(hours=1) - now)
                    raise AccountLocked(
                        "too many password reset requests from your address; "
                        f"try again in {wait_minutes} minutes",
                        retry_after=wait_minutes * 60,
                    )
            per_email, _ = self._failures_since(conn, lf.c.email_key, f"reset:{key}", since)
        with self.crm.begin() as conn:
            conn.execute(
                lf.insert().values(
                    email_key=f"reset:{key}"[:320], ip=f"reset:{ip}"[:64] if ip else None, occurred_at=now
                )
            )
        if per_email >= settings.password_reset_max_per_email:
            return

        def send() -> None:
            from cultiveat_core.services.mail import send_password_reset

            try:
                token = self.request_password_reset(key, request_id=request_id)
                if token is not None:
                    link = f"{link_base.rstrip('/')}/auth/password-reset?token={token}"
                    send_password_reset(self.crm, key, link, settings.password_reset_minutes)
            except Exception:
                log.exception("password reset for a requested address failed")

        worker = threading.Thread(target=send, name="cultiveat-password-reset", daemon=True)
        worker.start()
        if wait:
            worker.join()

    def reset_password(
        self, token: str, new_password: str, *, request_id: str | None = None
    ) -> User:
        digest = hashlib.sha256((token or "").encode()).hexdigest()
        now = utcnow()
        with transaction(self.crm, anonymous("password reset", request_id)) as work:
            row = (
                work.conn.execute(sa.select(pr).where(pr.c.token_hash == digest)).mappings().first()
            )
            if row is None or row["used_at"] is not None or row["expires_at"] <= now:
                raise AuthenticationFailed(
                    "this reset link is invalid, used or expired; ask for a new one"
                )
            user = self.crm.users.get_by_id(row["user_id"], conn=work.conn)
            check_password(new_password, email=user.email)
            claimed = work.conn.execute(
                pr.update()
                .where(pr.c.token_hash == digest, pr.c.used_at.is_(None))
                .values(used_at=now)
            ).rowcount
            if claimed != 1:
                raise AuthenticationFailed("this reset link was just used; ask for a new one")
            self._store_password(work.conn, user.id, new_password)
            work.conn.execute(
                tables.sessions.update()
                .where(tables.sessions.c.user_id == user.id, tables.sessions.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            work.audit("user.password_reset", "user", user.id, {})
        return user
