"""Field encryption at rest: Fernet (AES-128-CBC + HMAC-SHA256) with key rotation.

Keys come from ``CULTIVEAT_FIELD_ENCRYPTION_KEYS``: a comma-separated list of Fernet keys
(``cultiveat keys generate`` prints one), the first encrypts, every one decrypts. To rotate,
put a new key first, run ``cultiveat keys rotate`` (re-encrypts every stored value), then drop
the old key. Encrypted values carry the prefix ``enc:`` so plaintext written before keys were
configured is still read, and re-encrypted by the next rotation.

Equality lookups on an encrypted field (duplicate phones) go through a blind index: an
HMAC-SHA256 of the normalised value keyed by ``CULTIVEAT_BLIND_INDEX_KEY`` (or, when unset,
a key derived from ``CULTIVEAT_SECRET_KEY``); ``cultiveat keys rotate`` recomputes it.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from cultiveat_core.errors import ConfigurationError

PREFIX = "enc:"
_NOT_PHONE = re.compile(r"[^0-9+]")


def blind_index_key(index_key: str, secret_key: str, encryption_keys: str) -> bytes:
    """The HMAC key of blind indexes; refuses to run encrypted without a configured key."""
    raw = index_key or secret_key
    if not raw:
        if encryption_keys.strip():
            raise ConfigurationError(
                "field encryption needs CULTIVEAT_BLIND_INDEX_KEY (or CULTIVEAT_SECRET_KEY) "
                "for the blind index of encrypted fields"
            )
        raw = "cultiveat-unkeyed"  # nothing is encrypted: the plaintext is stored beside it
    return hashlib.sha256(b"cultiveat blind index\0" + raw.encode()).digest()


def normalise_for_index(value: str) -> str:
    """Phone numbers compare by their digits and leading ``+`` only."""
    return _NOT_PHONE.sub("", value)


def generate_key() -> str:
    return Fernet.generate_key().decode()


class FieldCipher:
    """Encrypts short text fields; ``enabled`` is False when no key is configured."""

    def __init__(self, keys: str, index_key: bytes = b"") -> None:
        self._index_key = index_key
        parts = [k.strip() for k in keys.split(",") if k.strip()]
        try:
            self._fernet: MultiFernet | None = (
                MultiFernet([Fernet(k) for k in parts]) if parts else None
            )
        except ValueError as exc:
            raise ConfigurationError(
                "CULTIVEAT_FIELD_ENCRYPTION_KEYS must be comma-separated Fernet keys "
                f"(32 url-safe base64 bytes each; `cultiveat keys generate` makes one): {exc}"
            ) from None

    @property
    def enabled(self) -> bool:
        return self._fernet is not None

    def encrypt(self, value: str | None) -> str | None:
        if value is None or self._fernet is None or value.startswith(PREFIX):
            return value
        return PREFIX + self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, value: str | None) -> str | None:
        if value is None or not value.startswith(PREFIX):
            return value
        if self._fernet is None:
            raise ConfigurationError(
                "an encrypted field was read but CULTIVEAT_FIELD_ENCRYPTION_KEYS is not set"
            )
        try:
            return self._fernet.decrypt(value[len(PREFIX) :].encode()).decode()
        except InvalidToken:
            raise ConfigurationError(
                "an encrypted field cannot be decrypted with any configured key; "
                "add the key it was written with to CULTIVEAT_FIELD_ENCRYPTION_KEYS"
            ) from None

    def blind_index(self, value: str | None) -> str | None:
        """HMAC-SHA256 (hex) of the normalised value: equal values, equal index."""
        if value in (None, ""):
            return None
        assert value is not None
        normal = normalise_for_index(value) or value.strip().lower()
        return hmac.new(self._index_key, normal.encode(), hashlib.sha256).hexdigest()

    def rotate(self, value: str | None) -> str | None:
        """Re-encrypt with the first key (plaintext gets encrypted)."""
        if value is None or self._fernet is None:
            return value
        if not value.startswith(PREFIX):
            return self.encrypt(value)
        return PREFIX + self._fernet.rotate(value[len(PREFIX) :].encode()).decode()
