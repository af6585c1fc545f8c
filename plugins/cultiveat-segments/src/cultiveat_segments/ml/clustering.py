"""Standardise, cluster with k-means (k by silhouette), describe clusters in words, measure drift.

Pure functions over numpy arrays, so the plugin's jobs and the offline evaluation in
``docs/plugins/segments.md`` run exactly the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler

FIT_SAMPLE = 20000  # k-means is fitted on a seeded sample; every contact is then assigned


@attrs.frozen
class ClusterModel:
    names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    centroids: np.ndarray  # in standardised units
    silhouette: float
    candidates: tuple[tuple[int, float], ...]

    @property
    def k(self) -> int:
        return int(self.centroids.shape[0])

    def standardise(self, values: np.ndarray) -> np.ndarray:
        return (values - self.mean) / self.scale

    def assign(self, values: np.ndarray) -> np.ndarray:
        z = self.standardise(values)
        distances = ((z[:, None, :] - self.centroids[None, :, :]) ** 2).sum(axis=2)
        return np.asarray(distances.argmin(axis=1))

    def to_json(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "centroids": self.centroids.tolist(),
            "silhouette": self.silhouette,
            "candidates": [list(c) for c in self.candidates],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClusterModel:
        return cls(
            tuple(data["names"]),
            np.array(data["mean"]),
            np.array(data["scale"]),
            np.array(data["centroids"]),
            float(data["silhouette"]),
            tuple((int(k), float(s)) for k, s in data["candidates"]),
        )


def fit(
    values: np.ndarray,
    names: Sequence[str],
    *,
    max_k: int = 8,
    seed: int = 42,
    silhouette_sample: int = 5000,
    k: int | None = None,
) -> ClusterModel:
    """k-means for k = 2..max_k on standardised values; keep the k with the best silhouette."""
    rng = np.random.default_rng(seed)
    sample = (
        values
        if len(values) <= FIT_SAMPLE
        else values[rng.choice(len(values), FIT_SAMPLE, replace=False)]
    )
    scaler = StandardScaler().fit(sample)
    z = scaler.transform(sample)
    ks = [k] if k is not None else list(range(2, max(2, min(max_k, len(sample) - 1)) + 1))
    best: tuple[float, Any] | None = None
    candidates = []
    for n_clusters in ks:
        model = KMeans(n_clusters=n_clusters, n_init=4, random_state=seed).fit(z)
        if len(set(model.labels_)) < 2:
            continue
        score = float(
            silhouette_score(
                z, model.labels_, sample_size=min(silhouette_sample, len(z)), random_state=seed
            )
        )
        candidates.append((n_clusters, round(score, 4)))
        if best is None or score > best[0]:
            best = (score, model)
    if best is None:
        raise ValueError("the data has fewer than two distinct groups; nothing to cluster")
    centroids = best[1].cluster_centers_
    order = np.lexsort(centroids.T[::-1])  # deterministic cluster numbering
    return ClusterModel(
        tuple(names),
        scaler.mean_,
        scaler.scale_,
        centroids[order],
        round(best[0], 4),
        tuple(candidates),
    )


# -- words ------------------------------------------------------------------------------------


def _cluster_means(values: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    means = np.zeros((k, values.shape[1]))
    for cluster in range(k):
        rows = values[labels == cluster]
        if len(rows):
            means[cluster] = rows.mean(axis=0)
    return means


def describe_behaviour(model: ClusterModel, values: np.ndarray, labels: np.ndarray) -> list[str]:
    """E.g. "Recent high-spending email-engaged frequent buyers", "Lapsed one-time buyers"."""
    index = {n: i for i, n in enumerate(model.names)}
    raw = np.expm1(_cluster_means(values, labels, model.k))  # back to days, counts, money
    z = model.standardise(_cluster_means(values, labels, model.k))
    words = []
    for cluster in range(model.k):
        purchases = raw[cluster, index["purchases"]]
        recency = z[cluster, index["days_since_activity"]]
        parts = ["recent" if recency < -0.5 else "lapsed" if recency > 0.5 else ""]
        if purchases >= 0.5:
            spend = z[cluster, index["total_spent"]]
            parts.append("high-spending" if spend > 0.5 else "low-spending" if spend < -0.5 else "")
        channels = {
            "email-engaged": z[cluster, index["email_engagement"]],
            "web-active": z[cluster, index["web_engagement"]],
            "sales-engaged": z[cluster, index["sales_engagement"]],
        }
        top = max(channels, key=channels.__getitem__)
        if channels[top] > 0.5:
            parts.append(top)
        elif max(channels.values()) < -0.5:
            parts.append("disengaged")
        if purchases < 0.5:
            parts.append("prospects (no purchase)")
        elif purchases < 1.5:
            parts.append("one-time buyers")
        else:
            parts.append(
                "frequent buyers" if z[cluster, index["purchases"]] > 0.5 else "repeat buyers"
            )
        words.append(_sentence(parts))
    return _unique(words)


def describe_preferences(model: ClusterModel, values: np.ndarray, labels: np.ndarray) -> list[str]:
    """E.g. "Prefers email, weekly, interested in pricing, analytics"."""
    shares = _cluster_means(values, labels, model.k)
    words = []
    for cluster in range(model.k):
        parts = []
        by_prefix: dict[str, list[tuple[float, str]]] = {}
        for i, name in enumerate(model.names):
            prefix, _, value = name.partition("=")
            by_prefix.setdefault(prefix, []).append((shares[cluster, i], value))
        for prefix, template in (("channel", "prefers {}"), ("frequency", "{}")):
            share, value = max(by_prefix.get(prefix, [(0.0, "")]))
            if share >= 0.5:
                parts.append(template.format(value))
        liked = [v for s, v in sorted(by_prefix.get("interest", []), reverse=True) if s >= 0.4][:2]
        if liked:
            parts.append("interested in " + " and ".join(liked))
        words.append(_sentence(parts, ", ") if parts else "Mixed preferences")
    return _unique(words)


def _sentence(parts: list[str], sep: str = " ") -> str:
    text = sep.join(p for p in parts if p)
    return text[:1].upper() + text[1:]


def _unique(words: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    result = []
    for word in words:
        seen[word] = seen.get(word, 0) + 1
        result.append(word if seen[word] == 1 else f"{word} ({seen[word]})")
    return result


# -- monitoring -------------------------------------------------------------------------------


def reference_bins(values: np.ndarray, bins: int = 10) -> list[dict[str, list[float]]]:
    """Per feature: quantile edges of the training data and the share of contacts per bin."""
    reference = []
    for column in values.T:
        edges = np.unique(np.quantile(column, np.linspace(0, 1, bins + 1)[1:-1]))
        reference.append({"edges": edges.tolist(), "shares": _shares(column, edges).tolist()})
    return reference


def _shares(column: np.ndarray, edges: np.ndarray) -> np.ndarray:
    counts = np.bincount(np.searchsorted(edges, column, side="right"), minlength=len(edges) + 1)
    return counts / max(1, len(column))


def psi(reference: list[dict[str, list[float]]], values: np.ndarray) -> list[float]:
    """Population stability index per feature (0.1 small, 0.2 and above a real shift)."""
    result = []
    for ref, column in zip(reference, values.T, strict=True):
        expected = np.clip(np.array(ref["shares"]), 1e-4, None)
        actual = np.clip(_shares(column, np.array(ref["edges"])), 1e-4, None)
        result.append(round(float(((actual - expected) * np.log(actual / expected)).sum()), 4))
    return result


def stability(previous: dict[int, int], current: dict[int, int]) -> float | None:
    """Share of contacts in both runs still in the same segment (segments matched by centroid)."""
    both = [cid for cid in current if cid in previous]
    if not both:
        return None
    return round(sum(previous[cid] == current[cid] for cid in both) / len(both), 4)


def match_clusters(old_centroids: np.ndarray, new_centroids: np.ndarray) -> dict[int, int]:
    """new cluster -> old cluster, pairing nearest centroids (Hungarian assignment)."""
    from scipy.optimize import linear_sum_assignment

    if not len(old_centroids) or not len(new_centroids):
        return {}
    cost = ((new_centroids[:, None, :] - old_centroids[None, :, :]) ** 2).sum(axis=2)
    rows, cols = linear_sum_assignment(cost)
    return {int(r): int(c) for r, c in zip(rows, cols, strict=True)}
