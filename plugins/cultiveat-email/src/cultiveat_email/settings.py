"""The email plugin's settings: ``CULTIVEAT_EMAIL_*`` variables or an ``[email]`` TOML table."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import attrs

if TYPE_CHECKING:
    from cultiveat_core import CRM


@attrs.frozen(kw_only=True)
class EmailSettings:
    plugin: ClassVar[str] = "email"

    # smtp://user:pass@host:587?starttls=1, smtps://host:465, smtp://127.0.0.1:1025
    smtp_url: str = "smtp://127.0.0.1:25"
    # ``CULTIVEAT_EMAIL_FROM`` ("from" is a Python keyword, so the field is read by ``load``)
    sender: str = ""
    # Throttles (0 = unlimited): messages per second overall and per recipient domain, shared by
    # every worker process through Redis (see throttle_redis_url), else per process.
    rate_limit: float = 0.0
    domain_rate_limit: float = 0.0
    # Redis holding the shared token buckets; empty: the core's broker URL when it is redis://,
    # "off": per-process buckets.
    throttle_redis_url: str = ""
    # In-job retries of 4xx/connection errors before the message is deferred to a job retry.
    # Recipients per job when campaigns send through this channel.
    batch_size: int = 200
    retry_attempts: int = 3
    retry_backoff_seconds: float = 0.5
    smtp_timeout_seconds: float = 30.0
    # How long a claim on outbox rows lasts without renewal (the sender renews it every third).
    # Rows of a process that died mid-chunk are resent, with the same Message-ID, after it.
    send_lease_seconds: float = 120.0
    # HMAC secret of the inbound and ESP webhooks; empty disables them.
    webhook_secret: str = ""
    webhook_tolerance_seconds: int = 300
    # imaps://user:pass@host:993/INBOX; empty disables inbound polling.
    imap_url: str = ""
    imap_poll_seconds: int = 60


def load(crm: CRM) -> EmailSettings:
    """The settings with ``CULTIVEAT_EMAIL_FROM`` (or ``from`` in the TOML table) as ``sender``."""
    settings = crm.plugin_settings(EmailSettings)
    sender = crm.settings.environ.get("CULTIVEAT_EMAIL_FROM")
    if sender is None:
        table = crm.settings.file_data.get("email", {})
        sender = table.get("from") if isinstance(table, dict) else None
    if sender:
        settings = attrs.evolve(settings, sender=str(sender))
    return settings
