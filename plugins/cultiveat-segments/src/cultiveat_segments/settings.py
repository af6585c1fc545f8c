"""The plugin's settings: ``CULTIVEAT_SEGMENTS_*`` variables or a ``[segments]`` TOML table."""

from __future__ import annotations

from typing import ClassVar

import attrs


@attrs.frozen(kw_only=True)
class SegmentsSettings:
    plugin: ClassVar[str] = "segments"

    # Seed 003: at most 50 segments per organisation.
    max_segments: int = 50
    # Seed 003: dynamic segments are rebuilt on this interval (events keep them current between).
    refresh_hours: float = 24.0
    # Event batches up to this many contacts are re-evaluated in the event thread; larger
    # batches (imports) go to a `segments.reevaluate` job so a request never waits on them.
    event_direct_limit: int = 2000
    # ML: refuse to train below this many contacts with activity, and fail loudly below this
    # silhouette (the seed asks for an accuracy threshold without stating one).
    ml_min_contacts: int = 30
    ml_min_silhouette: float = 0.1
    ml_max_k: int = 8
    # A fixed number of clusters; 0 lets the silhouette choose k in 2..ml_max_k.
    ml_k: int = 0
    ml_seed: int = 42
    # Silhouette is O(n^2): it is computed on a seeded sample of this many contacts.
    ml_silhouette_sample: int = 5000
    # Population stability index above which a feature counts as drifted.
    drift_threshold: float = 0.2
    # Page size of the preview and members endpoints.
    page_size: int = 50
