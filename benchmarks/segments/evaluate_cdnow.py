"""Evaluate segments on real transactions: the CDNOW master data set (shipped in ``lifetimes``).

    .venv/bin/uv pip install --no-deps 'lifetimes>=0.11'   # only its data file is read
    nice .venv/bin/python benchmarks/segments/evaluate_cdnow.py [--out docs-table.md]

CDNOW: 23,570 customers who made their first purchase at the CDNOW music store in the first
quarter of 1997, and all their 69,659 purchases until June 1998. Nothing is downloaded: the
file is read from the installed ``lifetimes`` package (found without importing it).

Method: the first nine months (1997-01-01 .. 1997-09-30) are the calibration period, loaded
into a fresh SQLite CRM through the core's services (one contact per customer, one
``purchase`` activity per transaction, dates shifted so the calibration end is "now"). Rule
segments (RFM) are defined as JSON and refreshed by the plugin; the ML behaviour model is
trained by the plugin's job code. The following nine months (1997-10-01 .. 1998-06-30) are the
holdout: for each segment we report who bought again and how much, how much of the variance
of holdout spend segment membership explains (eta squared), and an AUC for "buys again"
where each customer's score is their segment's repurchase rate estimated on the *other* half
of the customers (even/odd ids), so no customer scores itself.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

CALIBRATION_END = date(1997, 9, 30)
HOLDOUT_END = date(1998, 6, 30)

RFM_SEGMENTS = {
    "RFM: Champions (recent, 4+ purchases)": {
        "all": [
            {"purchase": "days_since_last_purchase", "op": "<=", "value": 60},
            {"purchase": "purchase_count", "op": ">=", "value": 4},
        ]
    },
    "RFM: Loyal, cooling (4+ purchases, none in 60 days)": {
        "all": [
            {"purchase": "days_since_last_purchase", "op": ">", "value": 60},
            {"purchase": "purchase_count", "op": ">=", "value": 4},
        ]
    },
    "RFM: Recent, few purchases": {
        "all": [
            {"purchase": "days_since_last_purchase", "op": "<=", "value": 60},
            {"purchase": "purchase_count", "op": "<", "value": 4},
        ]
    },
    "RFM: Repeat, lapsing (2-3 purchases)": {
        "all": [
            {"purchase": "days_since_last_purchase", "op": ">", "value": 60},
            {"purchase": "purchase_count", "op": ">=", "value": 2},
            {"purchase": "purchase_count", "op": "<", "value": 4},
        ]
    },
    "RFM: One-time, lapsed": {
        "all": [
            {"purchase": "days_since_last_purchase", "op": ">", "value": 60},
            {"purchase": "purchase_count", "op": "<", "value": 2},
        ]
    },
}


def data_file() -> Path:
    spec = importlib.util.find_spec("lifetimes")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("install the data: .venv/bin/uv pip install --no-deps 'lifetimes>=0.11'")
    return Path(next(iter(spec.submodule_search_locations)), "datasets", "CDNOW_master.txt")


def read_transactions() -> list[tuple[int, date, float]]:
    rows = []
    for line in data_file().read_text().splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[0].isdigit():
            day = datetime.strptime(parts[1], "%Y%m%d").date()
            rows.append((int(parts[0]), day, float(parts[3])))
    return rows


def load_crm(transactions: list[tuple[int, date, float]], workdir: str) -> Any:
    import cultiveat_segments.plugin

    from cultiveat_core.crm import create_crm
    from cultiveat_core.domain import Actor
    from cultiveat_core.settings import Settings

    environ = {
        **os.environ,
        "CULTIVEAT_SEGMENTS_EVENT_DIRECT_LIMIT": "100000",
        "CULTIVEAT_SEGMENTS_MAX_SEGMENTS": "50",
    }
    crm = create_crm(
        Settings.from_env(
            environ=environ,
            database_url=f"sqlite:///{workdir}/cdnow.db",
            secret_key="eval-" + "x" * 40,
            embedded_worker=False,
        ),
        plugins=[cultiveat_segments.plugin],
        load_entrypoints=False,
    )
    crm.upgrade_database()
    actor = Actor.system("evaluate_cdnow")
    customers = sorted({cid for cid, _, _ in transactions})
    ids: dict[int, int] = {}
    for start in range(0, len(customers), 5000):
        chunk = customers[start : start + 5000]
        made = crm.contacts.create_many(
            actor,
            [
                {"email": f"cdnow{c}@example.com", "first_name": "Customer", "last_name": str(c)}
                for c in chunk
            ],
            source="import",
        )
        ids.update(zip(chunk, (m.id for m in made), strict=True))
    shift = datetime.now(UTC) - datetime.combine(CALIBRATION_END, datetime.max.time(), UTC)
    items = [
        {
            "contact_id": ids[cid],
            "type": "purchase",
            "occurred_at": datetime.combine(day, datetime.min.time(), UTC)
            + timedelta(hours=12)
            + shift,
            "data": {"amount": amount, "currency": "USD"},
        }
        for cid, day, amount in transactions
        if day <= CALIBRATION_END
    ]
    for start in range(0, len(items), 20000):
        crm.activities.log_many(actor, items[start : start + 20000])
    return crm, ids


def holdout_table(
    groups: dict[str, set[int]], holdout_spend: dict[int, float], everyone: set[int]
) -> tuple[list[dict[str, Any]], float, float]:
    rows = []
    for name, members in groups.items():
        spend = [holdout_spend.get(c, 0.0) for c in members]
        rows.append(
            {
                "segment": name,
                "customers": len(members),
                "bought_again": round(100 * sum(s > 0 for s in spend) / max(1, len(spend)), 1),
                "mean_holdout_spend": round(statistics.fmean(spend), 2) if spend else 0.0,
            }
        )
    # eta squared of holdout spend by segment (segments disjoint; customers in none form a group)
    label = {}
    for name, members in groups.items():
        for c in members:
            label[c] = name
    values = np.array([holdout_spend.get(c, 0.0) for c in sorted(everyone)])
    labels = [label.get(c, "(none)") for c in sorted(everyone)]
    grand = values.mean()
    between = sum(len(v) * (np.mean(v) - grand) ** 2 for v in _by(labels, values).values())
    eta2 = float(between / ((values - grand) ** 2).sum())
    # AUC for "buys again": score = the segment's repurchase rate on the other half of customers
    auc_scores, truth = [], []
    for half in (0, 1):
        train = [c for c in everyone if c % 2 != half]
        rate: dict[str, list[float]] = defaultdict(list)
        for c in train:
            rate[label.get(c, "(none)")].append(float(holdout_spend.get(c, 0.0) > 0))
        for c in everyone:
            if c % 2 == half:
                auc_scores.append(statistics.fmean(rate.get(label.get(c, "(none)"), [0.0])))
                truth.append(holdout_spend.get(c, 0.0) > 0)
    return rows, round(eta2, 3), round(float(roc_auc_score(truth, auc_scores)), 3)


def _by(labels: list[str], values: np.ndarray) -> dict[str, list[float]]:
    grouped: dict[str, list[float]] = defaultdict(list)
    for lab, v in zip(labels, values, strict=True):
        grouped[lab].append(float(v))
    return grouped


def temporal_stability(transactions: list[tuple[int, date, float]], model: Any) -> float:
    """Fit-time model applied to features as of calibration end and three months later."""
    from cultiveat_segments.ml.features import BEHAVIOUR_FEATURES

    def features(as_of: date) -> dict[int, np.ndarray]:
        per: dict[int, list[tuple[date, float]]] = defaultdict(list)
        for cid, day, amount in transactions:
            if day <= as_of:
                per[cid].append((day, amount))
        out = {}
        for cid, buys in per.items():
            last = max(d for d, _ in buys)
            days = float((as_of - last).days) + 0.5
            raw = {
                "days_since_activity": days,
                "days_since_purchase": days,
                "purchases": len(buys),
                "total_spent": sum(a for _, a in buys),
                "email_engagement": 0.0,
                "web_engagement": 0.0,
                "sales_engagement": 0.0,
                "activities": len(buys),
            }
            out[cid] = np.log1p(np.array([raw[n] for n in BEHAVIOUR_FEATURES]))
        return out

    first, later = features(CALIBRATION_END), features(CALIBRATION_END + timedelta(days=91))
    common = sorted(first)
    a = model.assign(np.array([first[c] for c in common]))
    b = model.assign(np.array([later[c] for c in common]))
    return round(float((a == b).mean()), 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args(argv)
    from cultiveat_segments import membership, tables
    from cultiveat_segments.ml import clustering
    from cultiveat_segments.ml.runs import train
    from cultiveat_segments.plugin import service

    from cultiveat_core.domain import Actor

    started = time.perf_counter()
    transactions = read_transactions()
    calibration = [t for t in transactions if t[1] <= CALIBRATION_END]
    holdout: dict[int, float] = defaultdict(float)
    for cid, day, amount in transactions:
        if CALIBRATION_END < day <= HOLDOUT_END:
            holdout[cid] += amount
    workdir = args.workdir or tempfile.mkdtemp(prefix="cdnow-")
    crm, ids = load_crm(calibration, workdir)
    back = {v: k for k, v in ids.items()}
    everyone = set(ids)
    actor = Actor.system("evaluate_cdnow")
    print(
        f"loaded {len(ids)} customers, {len(calibration)} calibration purchases "
        f"({time.perf_counter() - started:.0f}s)",
        file=sys.stderr,
    )
    import sqlalchemy as sa

    def members(segment_id: int) -> set[int]:
        with crm.engine.connect() as conn:
            return {
                back[c]
                for c in conn.execute(
                    sa.select(tables.members.c.contact_id).where(
                        tables.members.c.segment_id == segment_id
                    )
                ).scalars()
            }

    rule_ids = {}
    for name, definition in RFM_SEGMENTS.items():
        rule_ids[name] = service(crm).create(
            actor, {"name": name, "definition": definition}, refresh=False
        )["id"]
    t0 = time.perf_counter()
    membership.refresh(crm, list(rule_ids.values()))
    rule_seconds = time.perf_counter() - t0
    rule_groups = {name: members(i) for name, i in rule_ids.items()}
    rule_rows, rule_eta, rule_auc = holdout_table(rule_groups, holdout, everyone)

    card = train(crm, "behaviour")
    ml_groups = {c["name"]: members(c["segment_id"]) for c in card["clusters"]}
    ml_rows, ml_eta, ml_auc = holdout_table(ml_groups, holdout, everyone)
    with crm.engine.connect() as conn:
        run = conn.execute(
            sa.select(tables.model_runs.c.model).where(tables.model_runs.c.id == card["run_id"])
        ).scalar_one()
    model = clustering.ClusterModel.from_json(run["clusters"])
    # seed stability: a second model with another seed, clusters paired by centroid
    from cultiveat_segments.ml.features import behaviour_features

    from cultiveat_core.db.metadata import utcnow

    matrix = behaviour_features(crm, utcnow())
    other = clustering.fit(matrix.values, matrix.names, k=model.k, seed=7)
    pairs = clustering.match_clusters(
        model.centroids, other.standardise(model.centroids * model.scale + model.mean)
    )
    a, b = model.assign(matrix.values), other.assign(matrix.values)
    seed_stability = round(
        float(np.mean([pairs.get(int(x)) == int(y) for x, y in zip(b, a, strict=True)])), 3
    )
    time_stability = temporal_stability(transactions, model)

    print("## CDNOW evaluation\n")
    print(
        f"{len(ids)} customers, {len(calibration)} calibration purchases (1997-01..1997-09), "
        f"holdout 1997-10..1998-06: {sum(1 for c in everyone if holdout.get(c, 0) > 0)} customers bought again "
        f"({100 * sum(1 for c in everyone if holdout.get(c, 0) > 0) / len(everyone):.1f} %).\n"
    )
    print(
        f"Rule (RFM) segments, refreshed in {rule_seconds:.2f}s; eta² of holdout spend {rule_eta}, "
        f"AUC for buying again {rule_auc}:\n"
    )
    _table(rule_rows)
    print(
        f"\nML behaviour clusters: k={card['k']} chosen by silhouette (candidates {card['k_candidates']}), "
        f"silhouette {card['silhouette']}; eta² {ml_eta}, AUC {ml_auc}; stability across seeds "
        f"{seed_stability}, across three months of new data {time_stability}:\n"
    )
    _table(ml_rows)
    print(f"\n(total {time.perf_counter() - started:.0f}s)", file=sys.stderr)
    return 0


def _table(rows: list[dict[str, Any]]) -> None:
    print("| segment | customers | bought again in holdout | mean holdout spend ($) |")
    print("|---|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['segment']} | {r['customers']} | {r['bought_again']} % | {r['mean_holdout_spend']} |"
        )


if __name__ == "__main__":
    raise SystemExit(main())
