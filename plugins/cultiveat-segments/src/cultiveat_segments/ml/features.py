"""Feature matrices for clustering, built with one aggregate query each (never per contact).

Behaviour: recency (days since the last activity and since the last purchase), frequency
(purchases), monetary value (total spent), engagement by channel (email, web, sales) and
activity volume, each ``log1p``-transformed because counts and money are heavy-tailed.
Preference: one-hot preferred channel and frequency, multi-hot top interests and topics.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import sqlalchemy as sa

from cultiveat_core.db import tables as core
from cultiveat_segments import tables
from cultiveat_segments.compiler import purchase_amount
from cultiveat_segments.preferences import CHANNELS, FREQUENCIES

if TYPE_CHECKING:
    from cultiveat_core import CRM

a = core.activities
EMAIL = ("email_opened", "email_clicked", "email_replied")
WEB = ("page_visit", "form_submitted", "content_downloaded")
SALES = (
    "demo_requested",
    "pricing_requested",
    "demo_scheduled",
    "meeting",
    "call",
    "webinar_attended",
)
BEHAVIOUR_FEATURES = (
    "days_since_activity",
    "days_since_purchase",
    "purchases",
    "total_spent",
    "email_engagement",
    "web_engagement",
    "sales_engagement",
    "activities",
)
# a contact that never bought is "as lapsed as the window": two years, the data's horizon
NEVER_DAYS = 730.0
TOP_INTERESTS = 20
TOP_TOPICS = 10


@attrs.frozen
class FeatureMatrix:
    contact_ids: np.ndarray
    values: np.ndarray  # transformed features, one row per contact
    names: tuple[str, ...]
    total_contacts: int

    @property
    def coverage(self) -> float:
        return round(len(self.contact_ids) / self.total_contacts, 4) if self.total_contacts else 0.0


def _count_where(types: tuple[str, ...]) -> Any:
    return sa.func.sum(sa.case((a.c.type.in_(types), 1), else_=0))


def behaviour_features(crm: CRM, now: datetime) -> FeatureMatrix:
    is_purchase = a.c.type == "purchase"
    query = (
        sa.select(
            a.c.contact_id,
            sa.func.max(a.c.occurred_at),
            sa.func.max(sa.case((is_purchase, a.c.occurred_at), else_=None)),
            sa.func.sum(sa.case((is_purchase, 1), else_=0)),
            sa.func.coalesce(
                sa.func.sum(sa.case((is_purchase, purchase_amount()), else_=None)), 0.0
            ),
            _count_where(EMAIL),
            _count_where(WEB),
            _count_where(SALES),
            sa.func.count(),
        )
        .group_by(a.c.contact_id)
        .order_by(a.c.contact_id)
    )
    ids: list[int] = []
    rows: list[list[float]] = []
    with crm.engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(core.contacts)).scalar_one()
        for (
            cid,
            last,
            last_purchase,
            purchases,
            spent,
            email,
            web,
            sales,
            count,
        ) in conn.execution_options(yield_per=20000).execute(query):
            ids.append(cid)
            rows.append(
                [
                    max(0.0, (now - last).total_seconds() / 86400),
                    NEVER_DAYS
                    if last_purchase is None
                    else max(0.0, (now - last_purchase).total_seconds() / 86400),
                    float(purchases or 0),
                    float(spent or 0),
                    float(email or 0),
                    float(web or 0),
                    float(sales or 0),
                    float(count),
                ]
            )
    raw = np.array(rows, dtype=float).reshape(-1, len(BEHAVIOUR_FEATURES))
    return FeatureMatrix(np.array(ids, dtype=np.int64), np.log1p(raw), BEHAVIOUR_FEATURES, total)


def preference_features(
    crm: CRM, vocabulary: dict[str, list[str]] | None = None
) -> tuple[FeatureMatrix, dict[str, list[str]]]:
    """The matrix and its vocabulary (top interests/topics), kept with the model to score."""
    p = tables.preferences
    with crm.engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(core.contacts)).scalar_one()
        records = conn.execute(
            sa.select(
                p.c.contact_id, p.c.preferred_channel, p.c.frequency, p.c.interests, p.c.topics
            ).order_by(p.c.contact_id)
        ).all()
    if vocabulary is None:
        from collections import Counter

        interests: Counter[str] = Counter(i for r in records for i in (r.interests or []))
        topics: Counter[str] = Counter(t for r in records for t in (r.topics or []))
        vocabulary = {
            "interests": [
                k
                for k, _ in sorted(interests.items(), key=lambda kv: (-kv[1], kv[0]))[
                    :TOP_INTERESTS
                ]
            ],
            "topics": [
                k for k, _ in sorted(topics.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_TOPICS]
            ],
        }
    names = (
        *(f"channel={c}" for c in CHANNELS),
        *(f"frequency={f}" for f in FREQUENCIES),
        *(f"interest={i}" for i in vocabulary["interests"]),
        *(f"topic={t}" for t in vocabulary["topics"]),
    )
    index = {n: i for i, n in enumerate(names)}
    values = np.zeros((len(records), len(names)))
    for row_number, r in enumerate(records):
        keys = [
            f"channel={r.preferred_channel}",
            f"frequency={r.frequency}",
            *(f"interest={i}" for i in r.interests or []),
            *(f"topic={t}" for t in r.topics or []),
        ]
        for key in keys:
            if key in index:
                values[row_number, index[key]] = 1.0
    ids = np.array([r.contact_id for r in records], dtype=np.int64)
    keep = values.sum(axis=1) > 0
    return FeatureMatrix(ids[keep], values[keep], tuple(names), total), vocabulary
