"""TOTP (RFC 6238) codes usable once, and single-use recovery codes.

A code is accepted for the current 30-second step or one step either side (clock drift);
the step of the last accepted code is stored and only later steps are accepted, so a code
seen over someone's shoulder or replayed from a log is refused (ASVS 6.5.1). Recovery codes
are random (50 bits), stored as SHA-256 and marked used in the same UPDATE that checks them.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import secrets
import time

import pyotp
import qrcode
import qrcode.image.svg
import sqlalchemy as sa

from cultiveat_core.db import tables
from cultiveat_core.db.metadata import utcnow

ISSUER = "Cultiveat"
STEP_SECONDS = 30
RECOVERY_CODES = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no look-alikes (0/o, 1/l/i)


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=10)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue().decode()


def matching_step(secret: str, code: str, *, now: float | None = None) -> int | None:
    """The time step ``code`` belongs to (current, previous or next), or None."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = int((now if now is not None else time.time()) // STEP_SECONDS)
    for step in (current, current - 1, current + 1):
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def claim_step(conn: sa.Connection, user_id: int, step: int) -> bool:
    """Record ``step`` as used; False when it (or a later one) was used already (replay)."""
    ua = tables.user_auth
    result = conn.execute(
        ua.update()
        .where(ua.c.user_id == user_id, ua.c.totp_last_step < step)
        .values(totp_last_step=step)
    )
    return result.rowcount == 1


def code_hash(code: str) -> str:
    normalised = code.strip().lower().replace("-", "").replace(" ", "")
    return hashlib.sha256(normalised.encode()).hexdigest()


def new_recovery_codes() -> list[str]:
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def replace_recovery_codes(conn: sa.Connection, user_id: int, codes: list[str]) -> None:
    rc = tables.recovery_codes
    conn.execute(rc.delete().where(rc.c.user_id == user_id))
    now = utcnow()
    conn.execute(
        rc.insert(),
        [{"user_id": user_id, "code_hash": code_hash(c), "created_at": now} for c in codes],
    )


def use_recovery_code(conn: sa.Connection, user_id: int, code: str) -> bool:
    rc = tables.recovery_codes
    result = conn.execute(
        rc.update()
        .where(rc.c.user_id == user_id, rc.c.code_hash == code_hash(code), rc.c.used_at.is_(None))
        .values(used_at=utcnow())
    )
    return result.rowcount == 1
