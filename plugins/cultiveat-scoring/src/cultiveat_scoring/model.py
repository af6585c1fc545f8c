"""The predictive score: logistic regression on the CRM's own history (scikit-learn).

Converted = stage in ``outcome_stages`` or any activity of ``outcome_activity_types``
(configurable). Features: fit and engagement from the rule score, plus per-type activity
counts (capped). The model is evaluated on a stratified held-out split against the plain
baseline (the rule score alone), then refitted on all rows; its card (ROC AUC, top-decile
precision, calibration, feature importances) and its coefficients are stored. Logistic
regression is linear, so the probability for every contact is written by one UPDATE in SQL.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa

from cultiveat_core.db import tables as core
from cultiveat_core.db.metadata import utcnow
from cultiveat_core.domain import Actor
from cultiveat_core.errors import Conflict, NotFound
from cultiveat_scoring import tables
from cultiveat_scoring.settings import ScoringSettings

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

a, c = core.activities, core.contacts
COUNT_TYPES = (
    "email_opened",
    "email_clicked",
    "email_replied",
    "webinar_attended",
    "demo_requested",
    "pricing_requested",
    "demo_scheduled",
    "content_downloaded",
    "page_visit",
    "subscribed",
    "meeting",
    "call",
)
COUNT_CAP = 20
SEED = 0


def feature_names() -> list[str]:
    return ["fit", "engagement", *(f"n_{t}" for t in COUNT_TYPES)]


def _feature_select(settings: ScoringSettings) -> Any:
    """SELECT contact_id, <features...>, converted for every contact (one grouped pass)."""
    s = tables.scores
    counts = (
        sa.select(
            a.c.contact_id,
            *(
                sa.func.sum(sa.case((a.c.type == t, 1), else_=0)).label(f"n_{t}")
                for t in COUNT_TYPES
            ),
            sa.func.sum(
                sa.case((a.c.type.in_(list(settings.outcome_activity_types)), 1), else_=0)
            ).label("outcomes"),
        )
        .where(a.c.type.in_([*COUNT_TYPES, *settings.outcome_activity_types]))
        .group_by(a.c.contact_id)
        .subquery("scoring_feature_counts")
    )

    def capped(col: Any) -> Any:
        value = sa.func.coalesce(col, 0)
        return sa.cast(sa.case((value > COUNT_CAP, COUNT_CAP), else_=value), sa.Float)

    converted = sa.or_(
        c.c.stage.in_(list(settings.outcome_stages)), sa.func.coalesce(counts.c.outcomes, 0) > 0
    )
    return sa.select(
        c.c.id.label("contact_id"),
        sa.func.coalesce(s.c.fit, 0.0).label("fit"),
        sa.func.coalesce(s.c.engagement, 0.0).label("engagement"),
        *(capped(counts.c[f"n_{t}"]).label(f"n_{t}") for t in COUNT_TYPES),
        sa.case((converted, 1), else_=0).label("converted"),
        sa.func.coalesce(s.c.total, 0.0).label("rule_total"),
    ).select_from(
        c.outerjoin(s, s.c.contact_id == c.c.id).outerjoin(counts, counts.c.contact_id == c.c.id)
    )


def top_decile_precision(y: np.ndarray, scores: np.ndarray) -> float:
    n = max(1, math.ceil(len(y) / 10))
    order = np.argsort(-scores, kind="stable")[:n]
    return float(np.mean(y[order]))


def calibration_table(
    y: np.ndarray, probabilities: np.ndarray, bins: int = 10
) -> list[dict[str, Any]]:
    """Equal-count bins of predicted probability: mean predicted vs observed rate."""
    order = np.argsort(probabilities, kind="stable")
    table = []
    for i, chunk in enumerate(np.array_split(order, bins)):
        if len(chunk) == 0:
            continue
        table.append(
            {
                "bin": i + 1,
                "count": len(chunk),
                "mean_predicted": round(float(np.mean(probabilities[chunk])), 4),
                "observed": round(float(np.mean(y[chunk])), 4),
            }
        )
    return table


def evaluate(
    x: np.ndarray, y: np.ndarray, baseline: np.ndarray, names: Sequence[str], baseline_name: str
) -> dict[str, Any]:
    """Held-out evaluation (stratified 75/25) of the model against ``baseline`` scores."""
    from sklearn.metrics import brier_score_loss, roc_auc_score
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    train, test = train_test_split(idx, test_size=0.25, stratify=y, random_state=SEED)
    model = make_model().fit(x[train], y[train])
    probabilities = model.predict_proba(x[test])[:, 1]
    return {
        "split": "stratified hold-out, 75% train / 25% test, random_state=0",
        "test_rows": len(test),
        "test_positives": int(y[test].sum()),
        "base_rate": round(float(y[test].mean()), 4),
        "roc_auc": round(float(roc_auc_score(y[test], probabilities)), 4),
        "top_decile_precision": round(top_decile_precision(y[test], probabilities), 4),
        "brier": round(float(brier_score_loss(y[test], probabilities)), 4),
        "calibration": calibration_table(y[test], probabilities),
        "baseline": {
            "name": baseline_name,
            "roc_auc": round(float(roc_auc_score(y[test], baseline[test])), 4),
            "top_decile_precision": round(top_decile_precision(y[test], baseline[test]), 4),
        },
    }


def make_model() -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))


def raw_coefficients(model: Any) -> tuple[float, list[float]]:
    """Fold the scaler into the coefficients: p = sigmoid(b + sum(w_i * x_i)) on raw features."""
    scaler, logistic = model.steps[0][1], model.steps[1][1]
    scale = np.where(scaler.scale_ == 0, 1.0, scaler.scale_)
    weights = logistic.coef_[0] / scale
    intercept = float(logistic.intercept_[0] - np.sum(logistic.coef_[0] * scaler.mean_ / scale))
    return intercept, [float(w) for w in weights]


def importances(model: Any, names: Sequence[str]) -> list[dict[str, Any]]:
    coef = model.steps[1][1].coef_[0]
    total = float(np.sum(np.abs(coef))) or 1.0
    rows = [
        {
            "feature": n,
            "standardized_coefficient": round(float(w), 4),
            "importance": round(abs(float(w)) / total, 4),
        }
        for n, w in zip(names, coef, strict=True)
    ]
    return sorted(rows, key=lambda r: -r["importance"])


class PredictiveModel:
    def __init__(self, crm: CRM) -> None:
        self.crm = crm

    @property
    def settings(self) -> ScoringSettings:
        return self.crm.plugin_settings(ScoringSettings)

    def training_data(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        query = _feature_select(self.settings)
        names = feature_names()
        with self.crm.connect() as conn:
            rows = conn.execute(query).all()
        if not rows:
            return np.zeros((0, len(names))), np.zeros(0), np.zeros(0)
        data = np.asarray([r[1:] for r in rows], dtype=float)
        return data[:, : len(names)], data[:, len(names)].astype(int), data[:, len(names) + 1]

    def train(self, actor: Actor) -> dict[str, Any]:
        """Train, evaluate, store the card and write every contact's probability."""
        self.crm.permissions.require(actor, "scoring.train")
        settings = self.settings
        x, y, rule_total = self.training_data()
        positives, negatives = int(y.sum()), int(len(y) - y.sum())
        outcome = (
            f"stage in {list(settings.outcome_stages)} or an activity of type "
            f"{list(settings.outcome_activity_types)}"
        )
        if positives < settings.min_positives or negatives < settings.min_negatives:
            raise Conflict(
                f"not enough history to train: {positives} converted and {negatives} not converted "
                f"contacts "
                f"(converted = {outcome}); at least {settings.min_positives} converted and "
                f"{settings.min_negatives} not converted are needed. Record more outcomes or lower "
                "CULTIVEAT_SCORING_MIN_POSITIVES.",
                positives=positives,
                negatives=negatives,
            )
        import sklearn

        names = feature_names()
        evaluation = evaluate(x, y, rule_total, names, "rule score (fit + engagement) alone")
        model = make_model().fit(x, y)
        intercept, weights = raw_coefficients(model)
        m = tables.models
        with self.crm.transaction(actor) as uow:
            version = (uow.conn.execute(sa.select(sa.func.max(m.c.version))).scalar() or 0) + 1
            card = {
                "version": version,
                "created_at": utcnow().isoformat(),
                "algorithm": "logistic regression on standardized features "
                f"(scikit-learn {sklearn.__version__})",
                "outcome": outcome,
                "trained_on": len(y),
                "positives": positives,
                "negatives": negatives,
                "features": names,
                "evaluation": evaluation,
                "feature_importances": importances(model, names),
            }
            uow.conn.execute(
                m.insert().values(
                    version=version,
                    card=card,
                    created_at=utcnow(),
                    params={"intercept": intercept, "weights": weights, "features": names},
                )
            )
            uow.audit(
                "scoring.model.train",
                "scoring_model",
                version,
                {"roc_auc": evaluation["roc_auc"], "positives": positives, "negatives": negatives},
            )
        self.write_probabilities(version, intercept, weights)
        return card

    def write_probabilities(self, version: int, intercept: float, weights: Sequence[float]) -> int:
        """One UPDATE: probability = sigmoid(intercept + w . features) for every scored contact."""
        s = tables.scores
        features = _feature_select(self.settings).subquery("scoring_features")
        z = sa.literal(intercept)
        for name, weight in zip(feature_names(), weights, strict=True):
            z = z + features.c[name] * float(weight)
        z = sa.case((z > 30.0, 30.0), (z < -30.0, -30.0), else_=z)
        probability = 1.0 / (1.0 + sa.func.exp(-z))
        with self.crm.begin() as conn:
            return conn.execute(
                s.update()
                .where(s.c.contact_id == features.c.contact_id)
                .values(probability=probability, model_version=version)
            ).rowcount

    def card(self, actor: Actor) -> dict[str, Any]:
        self.crm.permissions.require(actor, "scoring.read")
        m = tables.models
        with self.crm.connect() as conn:
            card = conn.execute(sa.select(m.c.card).order_by(m.c.version.desc()).limit(1)).scalar()
        if card is None:
            raise NotFound(
                "no model has been trained yet; POST /api/scoring/model/train or run "
                "`cultiveat scoring train`"
            )
        return dict(card)

    def refresh(self) -> int:
        """Re-apply the newest model to the current features (after a recompute)."""
        m = tables.models
        with self.crm.connect() as conn:
            row = conn.execute(
                sa.select(m.c.version, m.c.params).order_by(m.c.version.desc()).limit(1)
            ).first()
        if row is None:
            return 0
        return self.write_probabilities(row[0], row[1]["intercept"], row[1]["weights"])
