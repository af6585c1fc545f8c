"""Recipient tracking from activities: whatever logs an email event with ``campaign_id`` in
its data (the channel, the tracking routes, an ESP webhook) updates the recipient row,
set-based, once per batch of activities."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from cultiveat_campaigns.tables import recipients
from cultiveat_core import CRM, Activity

COLUMN_OF = {
    "email_delivered": "delivered_at",
    "email_opened": "opened_at",
    "email_clicked": "clicked_at",
    "email_bounced": "bounced_at",
    "unsubscribed": "unsubscribed_at",
    "email_replied": "replied_at",
}


def track(crm: CRM, activities: Sequence[Activity]) -> int:
    by_column: dict[str, list[dict[str, Any]]] = {}
    for act in activities:
        column = COLUMN_OF.get(act.type)
        campaign_id = act.data.get("campaign_id")
        if column is None or not isinstance(campaign_id, int):
            continue
        by_column.setdefault(column, []).append(
            {"cid": campaign_id, "contact": act.contact_id, "at": act.occurred_at}
        )
        if act.type == "email_clicked":  # a click implies the message was opened
            by_column.setdefault("opened_at", []).append(
                {"cid": campaign_id, "contact": act.contact_id, "at": act.occurred_at}
            )
    if not by_column:
        return 0
    r = recipients
    with crm.begin() as conn:
        for column, params in by_column.items():
            col = r.c[column]
            conn.execute(
                r.update()
                .where(
                    r.c.campaign_id == sa.bindparam("cid"),
                    r.c.contact_id == sa.bindparam("contact"),
                    col.is_(None),
                )
                .values({column: sa.bindparam("at", type_=col.type)}),
                params,
            )
    return sum(len(p) for p in by_column.values())
