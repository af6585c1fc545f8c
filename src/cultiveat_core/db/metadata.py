"""The one ``MetaData`` (with a naming convention) that core and plugin tables share."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both SQLite (stored naive) and PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


class EncryptedText(TypeDecorator[str]):
    """A text column encrypted at rest when field-encryption keys are configured.

    The CRM puts its ``FieldCipher`` on its engine's dialect (``dialect.cultiveat_cipher``):
    values are encrypted when written and decrypted when read, whatever the query (services,
    listing, exports, plugins' reads). An engine without a cipher (backup tooling) moves the
    stored values as they are. Equality on the column cannot match encrypted values: use its
    blind index column (``phone_key``) instead.
    """

    impl = sa.String  # EncryptedText(255) is VARCHAR(255), EncryptedText() unbounded
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        cipher = getattr(dialect, "cultiveat_cipher", None)
        if cipher is None or value is None:
            return value
        encrypted: str | None = cipher.encrypt(value)
        return encrypted

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        cipher = getattr(dialect, "cultiveat_cipher", None)
        if cipher is None or value is None:
            return value
        plain: str | None = cipher.decrypt(value)
        return plain
