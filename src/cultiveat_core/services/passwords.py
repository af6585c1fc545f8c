"""Password policy and hashing: argon2id, 8 to 128 characters, no well-known passwords.

ASVS 5.0 V6.2: at least 8 characters, at least 64 allowed, no composition rules, checked
against a list of common passwords, any printable character (spaces included) accepted.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from cultiveat_core.errors import ValidationError

MIN_LENGTH = 8
MAX_LENGTH = 128

# argon2id with the OWASP/ASVS minimum (19 MiB, 2 passes, 1 lane): about 0.1 s per check
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
# verified against when the account does not exist, so timing does not reveal which emails exist
_DUMMY_HASH = _hasher.hash("cultiveat-timing-equaliser")


@cache
def common_passwords() -> frozenset[str]:
    text = (
        resources.files("cultiveat_core.data").joinpath("common-passwords.txt").read_text("utf-8")
    )
    return frozenset(
        line.strip().lower()
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    )


def check_password(password: str, *, email: str | None = None) -> None:
    """Raise ``ValidationError`` (field ``password``) saying what to change."""
    if not isinstance(password, str) or len(password) < MIN_LENGTH:
        raise ValidationError.field("password", f"use at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise ValidationError.field("password", f"use at most {MAX_LENGTH} characters")
    lowered = password.lower()
    if lowered in common_passwords() or len(set(password)) < 3:
        raise ValidationError.field(
            "password",
            "this password is too common and easy to guess; choose a longer, unusual one "
            "(a passphrase of several words works well)",
        )
    if email and lowered in {email.lower(), email.split("@", 1)[0].lower()}:
        raise ValidationError.field("password", "the password must not be your email address")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant-ish time: an unknown user costs one argon2 verification too."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
