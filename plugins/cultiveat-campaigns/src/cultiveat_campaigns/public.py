"""What the tracking routes do: resolve a token, log the activity, unsubscribe at once."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from cultiveat_campaigns import consent, sequences, tracking
from cultiveat_campaigns.channels import channels
from cultiveat_campaigns.tables import campaigns, enrolments, recipients
from cultiveat_campaigns.tables import sequences as sequence_table
from cultiveat_core import CRM, Actor

ACTOR = Actor.system("campaigns tracking")


def resolve(crm: CRM, token: str) -> dict[str, Any] | None:
    """The contact and context behind a token, or None (forged, unknown or erased)."""
    parsed = tracking.parse_token(crm, token)
    if parsed is None:
        return None
    kind, ref = parsed
    with crm.connect() as conn:
        if kind == "c":
            row = (
                conn.execute(
                    sa.select(
                        recipients.c.contact_id,
                        recipients.c.campaign_id,
                        recipients.c.opened_at,
                        campaigns.c.channel,
                    )
                    .join(campaigns, campaigns.c.id == recipients.c.campaign_id)
                    .where(recipients.c.id == ref)
                )
                .mappings()
                .first()
            )
            if row is None:
                return None
            return {
                "contact_id": row["contact_id"],
                "meta": {"campaign_id": row["campaign_id"]},
                "already_opened": row["opened_at"] is not None,
                "channel": row["channel"],
            }
        row = (
            conn.execute(
                sa.select(
                    enrolments.c.contact_id, enrolments.c.sequence_id, sequence_table.c.channel
                )
                .join(sequence_table, sequence_table.c.id == enrolments.c.sequence_id)
                .where(enrolments.c.id == ref)
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        return {
            "contact_id": row["contact_id"],
            "meta": {"sequence_id": row["sequence_id"]},
            "already_opened": False,
            "channel": row["channel"],
        }


def opened(crm: CRM, token: str) -> None:
    found = resolve(crm, token)
    if found is None or found["already_opened"]:
        return
    crm.activities.log_many(
        ACTOR,
        [
            {
                "contact_id": found["contact_id"],
                "type": "email_opened",
                "data": {**found["meta"], "source": "pixel", "channel": "email"},
            }
        ],
    )


def clicked(crm: CRM, token: str, url: str, signature: str) -> str | None:
    """The URL to redirect to (only one the message contained), or None."""
    found = resolve(crm, token)
    if found is None or not tracking.verify_click(crm, token, url, signature):
        return None
    crm.activities.log_many(
        ACTOR,
        [
            {
                "contact_id": found["contact_id"],
                "type": "email_clicked",
                "data": {
                    **found["meta"],
                    "url": url[:2000],
                    "source": "redirect",
                    "channel": "email",
                },
            }
        ],
    )
    return url


def unsubscribe(crm: CRM, token: str, how: str) -> bool:
    found = resolve(crm, token)
    if found is None:
        return False
    ch = channels(crm).get(found["channel"])
    purpose = ch.consent_purpose if ch is not None else "email_marketing"
    consent.withdraw(
        crm,
        ACTOR,
        [found["contact_id"]],
        purpose,
        source=f"unsubscribe link ({how})",
        data=found["meta"],
    )
    sequences.exit_contacts(crm, [found["contact_id"]], "unsubscribed")
    return True
