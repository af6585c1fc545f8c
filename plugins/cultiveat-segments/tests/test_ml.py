"""ML segments: training on fixture data gives stable, described clusters saved as segments."""

from __future__ import annotations

import csv
import io
import random
from datetime import timedelta

import pytest
from cultiveat_segments.ml.runs import score, train
from cultiveat_segments.plugin import service
from cultiveat_segments.preferences import set_preferences

from cultiveat_core import ValidationError

from .data import SYSTEM, now


def behaviour_population(crm, per_group=25):
    """Three behaviours a marketer would name: loyal big spenders, lapsed one-timers, browsers."""
    rng = random.Random(3)
    t = now()
    contacts = crm.contacts.create_many(
        SYSTEM,
        [
            {"email": f"g{g}-{i}@example.com", "first_name": "G", "last_name": str(i)}
            for g in range(3)
            for i in range(per_group)
        ],
    )
    items = []
    for index, contact in enumerate(contacts):
        group = index // per_group
        if group == 0:
            for _ in range(rng.randint(6, 9)):
                items.append(
                    {
                        "contact_id": contact.id,
                        "type": "purchase",
                        "occurred_at": t - timedelta(days=rng.uniform(1, 40)),
                        "data": {"amount": rng.uniform(400, 900), "currency": "USD"},
                    }
                )
            for _ in range(rng.randint(4, 8)):
                items.append(
                    {
                        "contact_id": contact.id,
                        "type": "email_clicked",
                        "occurred_at": t - timedelta(days=rng.uniform(1, 20)),
                    }
                )
        elif group == 1:
            items.append(
                {
                    "contact_id": contact.id,
                    "type": "purchase",
                    "occurred_at": t - timedelta(days=rng.uniform(400, 600)),
                    "data": {"amount": rng.uniform(40, 90), "currency": "USD"},
                }
            )
        else:
            for _ in range(rng.randint(3, 6)):
                items.append(
                    {
                        "contact_id": contact.id,
                        "type": "page_visit",
                        "occurred_at": t - timedelta(days=rng.uniform(1, 15)),
                        "data": {"url": "/pricing"},
                    }
                )
    crm.activities.log_many(SYSTEM, items)
    return contacts


def ml_segments(crm):
    return {s["name"]: s for s in service(crm).list(SYSTEM) if s["kind"] == "ml"}


def test_behaviour_training_finds_described_clusters_and_saves_them_as_segments(crm):
    behaviour_population(crm)
    card = train(crm, "behaviour")
    assert card["k"] == 3 and card["silhouette"] >= 0.5
    assert card["contacts"] == 75 and card["coverage"] == 1.0
    assert {k for k, _ in card["k_candidates"]} == set(range(2, 9))
    names = sorted(ml_segments(crm))
    assert len(names) == 3
    text = " | ".join(names)
    assert "Recent high-spending" in text and "frequent buyers" in text
    assert "Lapsed" in text and "one-time buyers" in text
    assert "prospects (no purchase)" in text
    assert sorted(c["size"] for c in card["clusters"]) == [25, 25, 25]
    for seg in ml_segments(crm).values():
        assert seg["member_count"] == 25 and seg["model_run_id"] == card["run_id"]


def test_retraining_keeps_segments_and_reports_full_stability(crm):
    behaviour_population(crm)
    first = train(crm, "behaviour")
    second = train(crm, "behaviour")
    assert second["stability"] == 1.0
    assert {c["segment_id"] for c in first["clusters"]} == {
        c["segment_id"] for c in second["clusters"]
    }
    again = score(crm, "behaviour")
    assert again["stability"] == 1.0 and again["drift_alert"] is False
    assert max(again["drift"].values()) < 0.01


def test_training_and_scoring_run_as_jobs_with_a_model_card(client, crm, run_jobs):
    behaviour_population(crm)
    response = client.post("/api/segments/models/train", json={"kind": "behaviour"})
    assert response.status_code == 202
    run_jobs()
    job = client.get(f"/api/jobs/{response.json()['job_id']}").json()
    assert job["status"] == "done", job
    runs = client.get("/api/segments/models").json()
    assert (
        runs[0]["status"] == "trained" and runs[0]["card"]["features"][0] == "days_since_activity"
    )
    assert client.post("/api/segments/models/train", json={"kind": "astrology"}).status_code == 422


def test_training_refuses_too_little_data_with_a_clear_message(crm):
    with pytest.raises(ValidationError, match="not enough data to train: 0 contacts"):
        train(crm, "behaviour")
    with pytest.raises(ValidationError, match="no trained preference model yet"):
        score(crm, "preference")


def test_the_daily_scoring_waits_quietly_for_a_first_model(crm):
    """A new installation has no model: the daily run is done with nothing to do (no failed
    job, no error in the log); asked for explicitly, scoring still says to train first."""
    daily = crm.registry.periodic_tasks["segments.daily_score"]
    job_id = crm.jobs.enqueue(daily.task, daily.payload)
    crm.jobs.run_pending()
    job = crm.jobs.get(job_id)
    assert job.status == "done" and job.result == {"skipped": "no trained behaviour model yet"}
    asked = crm.jobs.enqueue("segments.score", {"kind": "behaviour"})
    crm.jobs.run_pending()
    assert crm.jobs.get(asked).status != "done"  # failed, to be retried: it was asked for
    behaviour_population(crm)
    train(crm, "behaviour")
    again = crm.jobs.enqueue(daily.task, daily.payload)
    crm.jobs.run_pending()
    assert crm.jobs.get(again).status == "done" and "skipped" not in crm.jobs.get(again).result


def test_preference_segmentation(crm):
    contacts = crm.contacts.create_many(
        SYSTEM,
        [{"email": f"p{i}@example.com", "first_name": "P", "last_name": str(i)} for i in range(60)],
    )
    for i, contact in enumerate(contacts):
        group = i % 3
        prefs = [
            {"preferred_channel": "email", "frequency": "weekly", "interests": ["analytics"]},
            {"preferred_channel": "phone", "frequency": "monthly", "interests": ["pricing"]},
            {"preferred_channel": "sms", "frequency": "daily", "interests": ["crm", "mobile"]},
        ][group]
        set_preferences(crm, SYSTEM, contact.id, prefs)
    card = train(crm, "preference")
    assert card["k"] == 3
    names = sorted(ml_segments(crm))
    assert "Preferences: Prefers email, weekly, interested in analytics" in names
    assert any(n.startswith("Preferences: Prefers phone, monthly") for n in names)


def test_monitoring_over_time_and_exports(client, crm):
    behaviour_population(crm, per_group=12)
    train(crm, "behaviour")
    seg = next(iter(ml_segments(crm).values()))
    monitoring = client.get(f"/api/segments/{seg['id']}/monitoring").json()
    assert (
        monitoring["snapshots"][-1]["size"] == 12 and monitoring["snapshots"][-1]["entered"] == 12
    )
    assert monitoring["flows"][0]["entered"] == 12
    assert set(monitoring["snapshots"][-1]["drift"]) >= {"total_spent", "purchases"}
    client.post("/api/segments", json={"name": '=HYPERLINK("http://x")', "kind": "static"})
    exported = client.get("/api/segments/monitoring/export", params={"format": "csv"})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["segment_id", "segment", "kind"]
    assert any(r[1].startswith("'=HYPERLINK") for r in rows[1:])
    assert not any(r[1].startswith("=") for r in rows[1:])
    xlsx = client.get("/api/segments/monitoring/export", params={"format": "xlsx"})
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    cells = [row[1] for row in sheet.iter_rows(values_only=True)]
    assert '\'=HYPERLINK("http://x")' in cells
    assert (
        client.get("/api/segments/monitoring/export", params={"format": "pdf"}).status_code == 400
    )


def test_campaign_engagement_per_segment(client, crm):
    contacts = crm.contacts.create_many(
        SYSTEM,
        [
            {
                "email": f"c{i}@example.com",
                "first_name": "C",
                "last_name": str(i),
                "company_size": 500 if i < 4 else 5,
            }
            for i in range(8)
        ],
    )
    seg = client.post(
        "/api/segments",
        json={"name": "Mid", "definition": {"field": "company_size", "op": ">", "value": 100}},
    ).json()
    items = [
        {"contact_id": c.id, "type": "email_sent", "data": {"campaign_id": "spring"}}
        for c in contacts
    ]
    items += [
        {"contact_id": c.id, "type": "email_opened", "data": {"campaign_id": "spring"}}
        for c in contacts[:3]
    ]
    items += [
        {
            "contact_id": contacts[0].id,
            "type": "purchase",
            "data": {"campaign_id": "spring", "amount": 10, "currency": "USD"},
        }
    ]
    crm.activities.log_many(SYSTEM, items)
    campaigns = client.get(f"/api/segments/{seg['id']}/monitoring").json()["campaigns"]
    assert campaigns == [
        {
            "campaign_id": "spring",
            "sent": 4,
            "opened": 3,
            "clicked": 0,
            "replied": 0,
            "converted": 1,
            "open_rate": 75.0,
            "click_rate": 0.0,
            "conversion_rate": 25.0,
            "all_contacts": {"open_rate": 37.5, "click_rate": 0.0, "conversion_rate": 12.5},
        }
    ]
