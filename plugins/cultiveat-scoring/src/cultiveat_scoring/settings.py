"""The scoring plugin's settings: ``CULTIVEAT_SCORING_<FIELD>`` or a ``[scoring]`` TOML table."""

from __future__ import annotations

from typing import ClassVar

import attrs


@attrs.frozen(kw_only=True)
class ScoringSettings:
    plugin: ClassVar[str] = "scoring"

    # contacts touched by one transaction up to this many are rescored right after its commit
    # (inside the event handler); bigger batches are marked dirty and rescored by a job
    inline_limit: int = 500
    # a full recompute goes through contacts in id ranges of this size (progress, shorter
    # transactions); each range scans the contacts table once on PostgreSQL (a wide table:
    # the planner prefers a sequential scan for a fifth of it), so ranges are large
    chunk_size: int = 500_000
    # PostgreSQL: a full recompute scores its ranges in this many connections at once (at
    # least this many ranges); 1 = one after another
    parallel: int = 2
    # PostgreSQL: a dirty run of at least this many contacts is split into ``parallel`` parts
    # by contact id, each scored in its own connection and transaction at once
    parallel_dirty_min: int = 10_000
    # PostgreSQL work_mem for a scoring run's transaction (SET LOCAL): the per-contact
    # aggregation and the joins hash in memory instead of sorting or spilling to disk
    work_mem: str = "256MB"
    # periodic full recompute (decay moves scores even without new activity); 0 disables it
    recompute_every_minutes: int = 60
    # when a lead becomes hot, also set its stage (through the contacts service, audited)
    set_hot_stage: bool = False
    hot_stage: str = "Hot Lead"
    # stages the hot-stage update never overwrites
    keep_stages: tuple[str, ...] = ("Customer", "Lost", "Hot Lead")
    # predictive model: which contacts count as converted, and when to refuse to train
    outcome_stages: tuple[str, ...] = ("Customer",)
    outcome_activity_types: tuple[str, ...] = ("purchase",)
    min_positives: int = 20
    min_negatives: int = 20
    retrain_every_hours: int = 24
