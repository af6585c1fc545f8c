"""Hot threshold crossings, the Hot Lead stage, incremental rescoring and dirty batches."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import cultiveat_scoring.plugin
import sqlalchemy as sa
from cultiveat_scoring import tables
from cultiveat_scoring.rules import default_rule_set
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from cultiveat_core.db import tables as core
from cultiveat_core.db.metadata import utcnow
from cultiveat_core.markers import hookimpl

from .conftest import NOW, SYSTEM, add_contact, days_ago, log


class Listener:
    def __init__(self) -> None:
        self.hot: list[tuple[int, int, int | None]] = []
        self.batches: list[int] = []

    @hookimpl
    def lead_became_hot(self, contact_id: int, score: int, previous_score: int | None) -> None:
        self.hot.append((contact_id, score, previous_score))

    @hookimpl
    def leads_became_hot(self, leads: list[Any]) -> None:
        self.batches.append(len(leads))


def stored(crm: Any, contact_id: int) -> dict[str, Any]:
    s = tables.scores
    with crm.connect() as conn:
        return dict(conn.execute(sa.select(s).where(s.c.contact_id == contact_id)).mappings().one())


def test_threshold_fires_once_per_crossing_and_sets_the_stage(make_crm: Any) -> None:
    listener = Listener()
    crm = make_crm(
        plugins=[cultiveat_scoring.plugin, listener],
        event_wait_seconds=60,
        environ={"CULTIVEAT_SCORING_SET_HOT_STAGE": "true"},
    )
    cid = add_contact(crm, "ceo@example.com", position="CEO", industry="Fintech")  # fit 40
    now = utcnow()
    log(crm, cid, [("demo_requested", now - timedelta(hours=1))])  # ~80: not hot yet
    assert listener.hot == [] and not stored(crm, cid)["hot"]
    log(crm, cid, [("page_visit", now - timedelta(minutes=5), {"url": "/pricing"})])  # ~100: hot
    assert [h[0] for h in listener.hot] == [cid] and listener.batches == [1]
    assert listener.hot[0][1] >= 90 and listener.hot[0][2] is not None and listener.hot[0][2] < 90
    row = stored(crm, cid)
    assert row["hot"] and row["hot_since"] is not None
    contact = crm.contacts.get(SYSTEM, cid)
    assert contact.stage == "Hot Lead"  # set through the contacts service...
    with crm.connect() as conn:  # ...and audited
        audited = (
            conn.execute(
                sa.select(core.audit_log.c.changes).where(
                    core.audit_log.c.action == "contact.update",
                    core.audit_log.c.object_id == str(cid),
                )
            )
            .scalars()
            .all()
        )
    assert any("stage" in changes for changes in audited)
    log(crm, cid, [("email_opened", now - timedelta(minutes=1))])  # still hot: no second event
    crm.extensions["scoring"].service.recompute_all()
    assert len(listener.hot) == 1
    # rules change: no longer hot; then hot again -> a second crossing, a second event
    document = default_rule_set()
    document["hot_threshold"] = 101
    crm.extensions["scoring"].service.save(SYSTEM, document, recompute=False)
    crm.extensions["scoring"].service.recompute_all()
    assert not stored(crm, cid)["hot"] and stored(crm, cid)["hot_since"] is None
    document["hot_threshold"] = 90
    crm.extensions["scoring"].service.save(SYSTEM, document, recompute=False)
    crm.extensions["scoring"].service.recompute_all()
    assert len(listener.hot) == 2


def test_new_activity_is_in_the_score_right_after_commit(crm: Any) -> None:
    cid = add_contact(crm, "fast@example.com", position="Barista", industry="Media")
    before = stored(crm, cid)
    assert before["score"] == 20 and before["engagement"] == 0  # scored on creation (fit only)
    crm.activities.log(SYSTEM, cid, "webinar_attended")
    after = stored(crm, cid)
    assert after["engagement"] > 14.9 and after["score"] == 35
    history = crm.extensions["scoring"].service.history(SYSTEM, cid)
    assert [h["score"] for h in history] == [35, 20]


def test_big_batches_go_through_the_dirty_job(make_crm: Any) -> None:
    crm = make_crm(
        plugins=[cultiveat_scoring.plugin],
        event_wait_seconds=60,
        environ={"CULTIVEAT_SCORING_INLINE_LIMIT": "2"},
    )
    ids = [
        c.id
        for c in crm.contacts.create_many(
            SYSTEM,
            [
                {"email": f"b{i}@example.com", "first_name": "B", "last_name": str(i)}
                for i in range(5)
            ],
        )
    ]
    with crm.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.dirty)).scalar() == 5
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.scores)).scalar() == 0
    crm.jobs.run_pending()
    with crm.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.dirty)).scalar() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.scores)).scalar() == 5
    assert stored(crm, ids[0])["score"] == 20


def test_a_large_dirty_set_is_scored_in_parallel_parts_like_a_full_run(make_crm: Any) -> None:
    """PostgreSQL splits a dirty set of ``parallel_dirty_min`` or more by contact id into
    ``parallel`` parts, one connection each; SQLite runs it as one. Either way every dirty
    contact ends scored exactly as a full recompute scores it, and no mark is left behind."""
    crm = make_crm(
        plugins=[cultiveat_scoring.plugin],
        event_wait_seconds=60,
        environ={
            "CULTIVEAT_SCORING_INLINE_LIMIT": "0",
            "CULTIVEAT_SCORING_PARALLEL": "3",
            "CULTIVEAT_SCORING_PARALLEL_DIRTY_MIN": "5",
        },
    )
    service = crm.extensions["scoring"].service
    positions = ["CEO", "VP Sales", "Analyst", None]
    people = crm.contacts.create_many(
        SYSTEM,
        [
            {"email": f"p{i}@example.com", "first_name": "P", "last_name": str(i), "position": positions[i % 4]}
            for i in range(30)
        ],
    )
    crm.activities.log_many(
        SYSTEM,
        [
            {"contact_id": p.id, "type": kind, "occurred_at": days_ago(i % 9)}
            for i, p in enumerate(people)
            for kind in ("email_opened", "email_clicked")[: 1 + i % 2]
        ],
    )
    with crm.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.dirty)).scalar() == 30
    result = service.rescore_dirty(now=NOW)
    assert result.scored == 30
    with crm.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.dirty)).scalar() == 0
    by_parts = _scores(crm)
    assert len(by_parts) == 30
    service.recompute_all(now=NOW)
    assert _scores(crm) == by_parts


TYPES = [
    "email_opened",
    "email_clicked",
    "webinar_attended",
    "demo_requested",
    "demo_scheduled",
    "content_downloaded",
    "page_visit",
    "subscribed",
    "email_replied",
]
activity = st.tuples(
    st.integers(0, 3),
    st.sampled_from(TYPES),
    st.integers(0, 40),
    st.sampled_from(["/pricing", "/blog", "whitepaper", "ebook"]),
)


def _scores(crm: Any) -> dict[int, tuple[Any, ...]]:
    s = tables.scores
    with crm.connect() as conn:
        return {
            r[0]: tuple(round(v, 6) if isinstance(v, float) else v for v in r[1:])
            for r in conn.execute(
                sa.select(
                    s.c.contact_id,
                    s.c.score,
                    s.c.fit,
                    s.c.engagement,
                    s.c.total,
                    s.c.engagement_percent,
                    s.c.hot,
                    s.c.band,
                    s.c.groups,
                )
            )
        }


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
    print_blob=True,
)
@given(first=st.lists(activity, max_size=12), second=st.lists(activity, max_size=8))
def test_incremental_equals_full_recompute(crm: Any, first: list[Any], second: list[Any]) -> None:
    service = crm.extensions["scoring"].service
    c = core.contacts
    with crm.begin() as conn:  # a fresh population per example (the fixture's database is shared)
        conn.execute(tables.scores.delete())
        conn.execute(c.delete())
    people = crm.contacts.create_many(
        SYSTEM,
        [
            {
                "email": f"h{i}@example.com",
                "first_name": "H",
                "last_name": str(i),
                "position": pos,
                "industry": ind,
            }
            for i, (pos, ind) in enumerate(
                [("CEO", "SaaS"), ("Analyst", "Retail"), (None, None), ("VP", "Media")]
            )
        ],
    )
    ids = [p.id for p in people]

    def items(batch: list[Any]) -> list[dict[str, Any]]:
        return [
            {
                "contact_id": ids[who],
                "type": kind,
                "occurred_at": days_ago(age),
                "data": {"url": extra} if kind == "page_visit" else {"content_type": extra},
            }
            for who, kind, age, extra in batch
        ]

    for batch in (first, second):
        if batch:
            crm.activities.log_many(SYSTEM, items(batch))
        service.rescore([ids[who] for who, *_ in batch], now=NOW)  # incremental: only the touched
    service.rescore(ids, now=NOW)  # creation scored with the wall clock: align every row to NOW
    incremental = _scores(crm)
    service.recompute_all(now=NOW)
    assert _scores(crm) == incremental
    service.mark_dirty(ids)
    service.rescore_dirty(now=NOW)
    assert _scores(crm) == incremental


def test_a_run_rewrites_only_rows_that_moved(crm: Any) -> None:
    """Decay moves every engaged contact a little each hour; a row is rewritten only when a
    number moved by at least 0.005 (what the API shows) or an integer or flag changed, and a
    kept row still adds up: its explanation is computed as of its own computed_at."""
    service = crm.extensions["scoring"].service
    quiet = add_contact(crm, "quiet@example.com", position="CEO", industry="SaaS")
    busy = add_contact(crm, "busy@example.com", position="CEO", industry="SaaS")
    log(crm, quiet, [("email_opened", days_ago(300))])  # 5 x 2^-30: moves ~1e-10 an hour
    log(crm, busy, [("email_opened", days_ago(1))])  # ~4.67: moves ~0.013 an hour
    with crm.begin() as conn:  # scored at the wall clock when logged: start from none at NOW
        conn.execute(tables.scores.delete())
    service.recompute_all(now=NOW)
    service.recompute_all(now=NOW + timedelta(hours=1))
    kept, moved = stored(crm, quiet), stored(crm, busy)
    assert kept["computed_at"] == NOW and kept["engagement"] > 0
    assert moved["computed_at"] == NOW + timedelta(hours=1)
    assert abs(moved["engagement"] - 5 * 0.5 ** ((1 + 1 / 24) / 10)) < 1e-9
    explained = service.explain(SYSTEM, quiet)
    assert explained["computed_at"] == NOW.isoformat()
    assert sum(r["points"] for r in explained["rules"]) == explained["score"] == 40
    # an integer that changes is always written, with a history row
    log(crm, quiet, [("demo_requested", NOW + timedelta(hours=1, minutes=-5))])
    service.recompute_all(now=NOW + timedelta(hours=1))
    after = stored(crm, quiet)
    assert after["computed_at"] == NOW + timedelta(hours=1) and after["score"] == 80
    history = service.history(SYSTEM, quiet)
    assert {"score": 80, "at": (NOW + timedelta(hours=1)).isoformat()} in [
        {"score": h["score"], "at": h["recorded_at"]} for h in history
    ]
