"""field encryption: phone wide enough for its ciphertext, phone_key blind index (backfilled)

Revision ID: core_0201_field_encryption
Revises: core_0200_identity
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "core_0201_field_encryption"
down_revision: str | Sequence[str] | None = "core_0200_identity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 20000


def upgrade() -> None:
    from cultiveat_core.crypto import FieldCipher, blind_index_key
    from cultiveat_core.settings import Settings

    bind = op.get_bind()
    if bind.dialect.name == "postgresql":  # SQLite does not enforce VARCHAR lengths
        op.alter_column("core_contacts", "phone", type_=sa.String(255), existing_nullable=True)
    op.add_column("core_contacts", sa.Column("phone_key", sa.String(64), nullable=True))
    # Blind index of the phones already stored (plaintext until `cultiveat keys rotate`):
    # computed in Python a batch at a time (HMAC has no portable SQL form), staged in a
    # temporary table by multi-row inserts, then written by one UPDATE ... FROM, not one
    # UPDATE per contact.
    from alembic import context

    settings = context.config.attributes.get("settings") or Settings.from_env()
    cipher = FieldCipher(
        settings.field_encryption_keys,
        blind_index_key(settings.blind_index_key, settings.secret_key, settings.field_encryption_keys),
    )
    contacts = sa.table("core_contacts", sa.column("id", sa.Integer), sa.column("phone", sa.String),
                        sa.column("phone_key", sa.String))
    staged = sa.Table("tmp_core_phone_keys", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                      sa.Column("k", sa.String(64)), prefixes=["TEMPORARY"])
    staged.create(bind)
    last = 0
    while True:
        rows = bind.execute(
            sa.select(contacts.c.id, contacts.c.phone)
            .where(contacts.c.phone.is_not(None), contacts.c.id > last)
            .order_by(contacts.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        bind.execute(staged.insert(), [{"id": k, "k": cipher.blind_index(cipher.decrypt(v))} for k, v in rows])
        last = rows[-1][0]
    bind.execute(
        contacts.update()
        .where(contacts.c.id == staged.c.id)
        .values(phone_key=staged.c.k)
    )
    staged.drop(bind)
    op.create_index("ix_core_contacts_phone_key", "core_contacts", ["phone_key"])


def downgrade() -> None:
    op.drop_index("ix_core_contacts_phone_key", "core_contacts")
    with op.batch_alter_table("core_contacts") as batch:
        batch.drop_column("phone_key")
