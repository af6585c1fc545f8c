"""Field encryption at rest: Fernet (AES-128-CBC + HMAC-SHA256) with key rotation.

Keys come from ``CULTIVEAT_FIELD_ENCRYPTION_KEYS``: a comma-separated list of Fernet keys
(``cultiveat keys generate`` prints one), the first encrypts, every one decrypts. To rotate,
put a new key first, run ``cultiveat keys rotate`` (re-encrypts every stored value), then drop
the old key. Encrypted values carry the prefix ``enc:`` so plaintext written before keys were
configured is still read, and re-encrypted by the next rotation.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from cultiveat_core.errors import ConfigurationError

PREFIX = "enc:"


def generate_key() -> str:
    return Fernet.generate_key().decode()


class FieldCipher:
    """Encrypts short text fields; ``enabled`` is False when no key is configured."""

    def __init__(self, keys: str) -> None:
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

    def rotate(self, value: str | None) -> str | None:
        """Re-encrypt with the first key (plaintext gets encrypted)."""
        if value is None or self._fernet is None:
            return value
        if not value.startswith(PREFIX):
            return self.encrypt(value)
        return PREFIX + self._fernet.rotate(value[len(PREFIX) :].encode()).decode()
