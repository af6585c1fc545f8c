"""Training and scoring runs: model cards, ML segments that follow their model, drift and stability.

``train`` fits a model, keeps it with its card (features, k and the silhouette of every k
tried, sizes, descriptions, coverage) and scores with it; ``score`` re-assigns every contact
with the latest model (daily job). Clusters of a new model are paired with the previous
model's by nearest centroid, so a segment keeps its id (and history) across runs and
"stability" is the share of contacts that stayed in their segment.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np
import sqlalchemy as sa

from cultiveat_core import Actor, NotFound, ValidationError
from cultiveat_core.db.metadata import utcnow
from cultiveat_segments import membership, tables
from cultiveat_segments.ml import clustering, features
from cultiveat_segments.permissions import READ, TRAIN
from cultiveat_segments.settings import SegmentsSettings

if TYPE_CHECKING:
    from cultiveat_core import CRM

log = logging.getLogger("cultiveat.segments.ml")
KINDS = ("behaviour", "preference")
PREFIX = {"behaviour": "Behaviour: ", "preference": "Preferences: "}
r, s, ml, snap = tables.model_runs, tables.segments, tables.ml_assignments, tables.snapshots
INSERT_BATCH = 10000


def _check_kind(kind: Any) -> str:
    if kind not in KINDS:
        raise ValidationError.field("kind", f"must be one of: {', '.join(KINDS)}")
    return str(kind)


def enqueue(crm: CRM, actor: Actor, task: str, kind: Any) -> str:
    crm.permissions.require(actor, TRAIN)
    return crm.jobs.enqueue(task, {"kind": _check_kind(kind)}, actor=actor)


def _matrix(
    crm: CRM, kind: str, vocabulary: dict[str, list[str]] | None = None
) -> tuple[features.FeatureMatrix, Any]:
    if kind == "behaviour":
        return features.behaviour_features(crm, utcnow()), None
    return features.preference_features(crm, vocabulary)


def _describe(
    kind: str, model: clustering.ClusterModel, values: np.ndarray, labels: np.ndarray
) -> list[str]:
    if kind == "behaviour":
        return clustering.describe_behaviour(model, values, labels)
    return clustering.describe_preferences(model, values, labels)


def _latest(conn: sa.Connection, kind: str) -> Any:
    return (
        conn.execute(
            sa.select(r)
            .where(r.c.kind == kind, r.c.status == "trained")
            .order_by(r.c.id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )


def _fail(crm: CRM, kind: str, card: dict[str, Any], message: str) -> NoReturn:
    card = {**card, "status": "failed", "error": message}
    with crm.transaction(Actor.system("segments train")) as uow:
        run_id = uow.conn.execute(
            r.insert()
            .values(kind=kind, status="failed", card=card, model={}, created_at=utcnow())
            .returning(r.c.id)
        ).scalar_one()
        uow.audit("segment.model_failed", "segment_model", run_id, {"error": message})
    raise ValidationError(message, run_id=run_id)


def train(
    crm: CRM, kind: str = "behaviour", progress: Callable[..., None] | None = None
) -> dict[str, Any]:
    kind = _check_kind(kind)
    settings = crm.plugin_settings(SegmentsSettings)
    matrix, vocabulary = _matrix(crm, kind)
    card: dict[str, Any] = {
        "kind": kind,
        "contacts": len(matrix.contact_ids),
        "all_contacts": matrix.total_contacts,
        "coverage": matrix.coverage,
        "features": list(matrix.names),
        "seed": settings.ml_seed,
    }
    if len(matrix.contact_ids) < settings.ml_min_contacts:
        _fail(
            crm,
            kind,
            card,
            f"not enough data to train: {len(matrix.contact_ids)} contacts have "
            f"{'activities' if kind == 'behaviour' else 'preferences'}, at least "
            f"{settings.ml_min_contacts} are needed (CULTIVEAT_SEGMENTS_ML_MIN_CONTACTS)",
        )
    if progress:
        progress(1, 4, "features built")
    try:
        model = clustering.fit(
            matrix.values,
            matrix.names,
            max_k=settings.ml_max_k,
            seed=settings.ml_seed,
            silhouette_sample=settings.ml_silhouette_sample,
            k=settings.ml_k or None,
        )
    except ValueError as exc:
        _fail(crm, kind, card, f"cannot cluster: {exc}")
    card.update(
        k=model.k,
        silhouette=model.silhouette,
        k_candidates=[list(c) for c in model.candidates],
        min_silhouette=settings.ml_min_silhouette,
        criterion=f"fixed k={settings.ml_k}"
        if settings.ml_k
        else "silhouette (highest over k = 2..max_k)",
    )
    if model.silhouette < settings.ml_min_silhouette:
        _fail(
            crm,
            kind,
            card,
            f"silhouette {model.silhouette} is below the threshold "
            f"{settings.ml_min_silhouette} (CULTIVEAT_SEGMENTS_ML_MIN_SILHOUETTE): the "
            "clusters are not distinct enough to use",
        )
    if progress:
        progress(2, 4, f"k={model.k} silhouette={model.silhouette}")
    labels = model.assign(matrix.values)
    descriptions = _describe(kind, model, matrix.values, labels)
    run_id = _save_run(crm, kind, model, matrix, labels, descriptions, vocabulary, card)
    if progress:
        progress(3, 4, "segments saved")
    summary = score(crm, kind, run_id=run_id, matrix=matrix)
    with crm.begin() as conn:
        card = conn.execute(sa.select(r.c.card).where(r.c.id == run_id)).scalar_one()
        card = {**card, "stability": summary["stability"], "drift": summary["drift"]}
        conn.execute(
            r.update().where(r.c.id == run_id).values(card=card, stability=summary["stability"])
        )
    if progress:
        progress(4, 4, "scored")
    return {"run_id": run_id, **card}


def _save_run(
    crm: CRM,
    kind: str,
    model: clustering.ClusterModel,
    matrix: features.FeatureMatrix,
    labels: np.ndarray,
    descriptions: list[str],
    vocabulary: Any,
    card: dict[str, Any],
) -> int:
    settings = crm.plugin_settings(SegmentsSettings)
    with crm.transaction(Actor.system("segments train")) as uow:
        conn = uow.conn
        previous = _latest(conn, kind)
        reuse: dict[int, int] = {}
        old_ids: list[int] = []
        if previous is not None:
            old = clustering.ClusterModel.from_json(previous["model"]["clusters"])
            old_ids = list(previous["model"]["segment_ids"])
            alive = set(conn.execute(sa.select(s.c.id).where(s.c.id.in_(old_ids))).scalars())
            old_raw = old.centroids * old.scale + old.mean
            pairs = clustering.match_clusters(model.standardise(old_raw), model.centroids)
            reuse = {new: old_ids[o] for new, o in pairs.items() if old_ids[o] in alive}
            old_ids = [i for i in old_ids if i in alive]
        removed = [i for i in old_ids if i not in reuse.values()]
        created = model.k - len(reuse)
        existing = conn.execute(sa.select(sa.func.count()).select_from(s)).scalar_one()
        if existing - len(removed) + created > settings.max_segments:
            raise ValidationError(
                f"saving {model.k} {kind} segments would make "
                f"{existing - len(removed) + created} segments, "
                f"more than the limit of {settings.max_segments}; delete segments or lower "
                "CULTIVEAT_SEGMENTS_ML_MAX_K"
            )
        if removed:
            conn.execute(s.delete().where(s.c.id.in_(removed)))
        now = utcnow()
        run_id = conn.execute(
            r.insert()
            .values(
                kind=kind,
                status="trained",
                k=model.k,
                silhouette=model.silhouette,
                card={},
                model={},
                created_at=now,
            )
            .returning(r.c.id)
        ).scalar_one()
        segment_ids, clusters = [], []
        taken = set(
            conn.execute(
                sa.select(s.c.name).where(s.c.id.not_in(list(reuse.values()) or [-1]))
            ).scalars()
        )
        for cluster, words in enumerate(descriptions):
            name = (PREFIX[kind] + words)[:110]
            if name in taken:
                name = f"{name} #{run_id}.{cluster + 1}"
            taken.add(name)
            size = int((labels == cluster).sum())
            description = (
                f"ML {kind} cluster {cluster + 1} of {model.k} (model run {run_id}): {words}"
            )
            values = {
                "name": name,
                "description": description[:500],
                "model_run_id": run_id,
                "cluster": cluster,
                "updated_at": now,
            }
            if cluster in reuse:
                segment_id = reuse[cluster]
                conn.execute(s.update().where(s.c.id == segment_id).values(**values))
            else:
                segment_id = conn.execute(
                    s.insert()
                    .values(**values, kind="ml", definition=None, member_count=0, created_at=now)
                    .returning(s.c.id)
                ).scalar_one()
            segment_ids.append(segment_id)
            means = (
                matrix.values[labels == cluster].mean(axis=0)
                if size
                else np.zeros(len(matrix.names))
            )
            centroid = np.expm1(means) if kind == "behaviour" else means
            clusters.append(
                {
                    "cluster": cluster,
                    "segment_id": segment_id,
                    "name": name,
                    "description": words,
                    "size": size,
                    "centroid": {
                        n: round(float(v), 3) for n, v in zip(matrix.names, centroid, strict=True)
                    },
                }
            )
        card = {
            **card,
            "run_id": run_id,
            "status": "trained",
            "created_at": now.isoformat(),
            "clusters": clusters,
            "sizes": {c["name"]: c["size"] for c in clusters},
            "sklearn_version": _sklearn_version(),
            "removed_segments": removed,
        }
        model_data = {
            "clusters": model.to_json(),
            "segment_ids": segment_ids,
            "reference": clustering.reference_bins(matrix.values),
            "vocabulary": vocabulary,
        }
        conn.execute(r.update().where(r.c.id == run_id).values(card=card, model=model_data))
        uow.audit(
            "segment.model_trained",
            "segment_model",
            run_id,
            {"kind": kind, "k": model.k, "silhouette": model.silhouette, "segments": segment_ids},
        )
    return int(run_id)


def _sklearn_version() -> str:
    import sklearn

    return str(sklearn.__version__)


def has_model(crm: CRM, kind: str = "behaviour") -> bool:
    """Whether a model of ``kind`` has been trained (the daily scoring skips until then)."""
    kind = _check_kind(kind)
    with crm.engine.connect() as conn:
        return _latest(conn, kind) is not None


def score(
    crm: CRM,
    kind: str = "behaviour",
    *,
    run_id: int | None = None,
    matrix: features.FeatureMatrix | None = None,
) -> dict[str, Any]:
    """Assign every contact with features to its nearest centroid of the latest (or given) run."""
    kind = _check_kind(kind)
    settings = crm.plugin_settings(SegmentsSettings)
    with crm.engine.connect() as conn:
        run = (
            conn.execute(sa.select(r).where(r.c.id == run_id)).mappings().first()
            if run_id is not None
            else _latest(conn, kind)
        )
    if run is None:
        raise ValidationError.field(
            "kind",
            f"no trained {kind} model yet; train one first "
            "(POST /api/segments/models/train or `cultiveat segments train`)",
        )
    model = clustering.ClusterModel.from_json(run["model"]["clusters"])
    segment_ids = list(run["model"]["segment_ids"])
    if matrix is None:
        matrix, _ = _matrix(crm, kind, run["model"].get("vocabulary"))
    labels = model.assign(matrix.values) if len(matrix.contact_ids) else np.array([], dtype=int)
    assigned = {
        int(cid): segment_ids[int(label)]
        for cid, label in zip(matrix.contact_ids, labels, strict=True)
    }
    with crm.transaction(Actor.system("segments score")) as uow:
        live = set(uow.conn.execute(sa.select(s.c.id).where(s.c.id.in_(segment_ids))).scalars())
        previous = dict(
            uow.conn.execute(
                sa.select(ml.c.contact_id, ml.c.segment_id).where(ml.c.segment_id.in_(segment_ids))
            ).all()
        )
        uow.conn.execute(ml.delete().where(ml.c.segment_id.in_(segment_ids)))
        rows = [
            {"segment_id": seg, "contact_id": cid} for cid, seg in assigned.items() if seg in live
        ]
        for start in range(0, len(rows), INSERT_BATCH):
            uow.conn.execute(ml.insert(), rows[start : start + INSERT_BATCH])
    results = membership.refresh(crm, [i for i in segment_ids if i in live], reason="model")
    stable = clustering.stability(previous, assigned)
    drift = (
        clustering.psi(run["model"]["reference"], matrix.values) if len(matrix.contact_ids) else []
    )
    drift_map = dict(zip(matrix.names, drift, strict=True))
    alert = bool(drift) and max(drift) > settings.drift_threshold
    if alert:
        log.warning(
            "feature drift above %.2f in %s model %s: %s",
            settings.drift_threshold,
            kind,
            run["id"],
            {k: v for k, v in drift_map.items() if v > settings.drift_threshold},
        )
    with crm.begin() as conn:
        for seg in segment_ids:
            latest = conn.execute(
                sa.select(sa.func.max(snap.c.id)).where(snap.c.segment_id == seg)
            ).scalar()
            if latest is not None:
                conn.execute(
                    snap.update()
                    .where(snap.c.id == latest)
                    .values(
                        stability=stable,
                        drift={"run_id": run["id"], "psi": drift_map},
                        drift_alert=alert,
                    )
                )
    return {
        "run_id": run["id"],
        "contacts": len(assigned),
        "stability": stable,
        "drift": drift_map,
        "drift_alert": alert,
        "segments": [x.as_dict() for x in results],
    }


def _run_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "kind": row["kind"],
        "status": row["status"],
        "k": row["k"],
        "silhouette": row["silhouette"],
        "stability": row["stability"],
        "created_at": row["created_at"].isoformat(),
        "card": row["card"],
    }


def list_runs(crm: CRM, actor: Actor, kind: str | None = None) -> list[dict[str, Any]]:
    crm.permissions.require(actor, READ)
    query = sa.select(r).order_by(r.c.id.desc()).limit(100)
    if kind is not None:
        query = query.where(r.c.kind == _check_kind(kind))
    with crm.engine.connect() as conn:
        return [_run_dict(row) for row in conn.execute(query).mappings()]


def get_run(crm: CRM, actor: Actor, run_id: int) -> dict[str, Any]:
    crm.permissions.require(actor, READ)
    with crm.engine.connect() as conn:
        row = conn.execute(sa.select(r).where(r.c.id == run_id)).mappings().first()
    if row is None:
        raise NotFound(f"model run {run_id} does not exist")
    return _run_dict(row)
