"""Hooks the scoring plugin declares (added to the plugin manager when the plugin loads).

``register_score_conditions`` is a registration hook collected with
``crm.registry.extra(crm, "register_score_conditions")``; the two events fire after the
scoring transaction commits, once per crossing of the hot threshold.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cultiveat_core.markers import hookspec

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM


@hookspec
def register_score_conditions(crm: CRM) -> list[Any]:
    """``ScoreCondition`` values usable in rules as ``{"type": "condition", "condition": name}``."""


@hookspec
def lead_became_hot(crm: CRM, contact_id: int, score: int, previous_score: int | None) -> None:
    """A contact's score reached the hot threshold (fired once per crossing, after commit)."""


@hookspec
def leads_became_hot(crm: CRM, leads: list[Any]) -> None:
    """Batch form of ``lead_became_hot``: ``HotLead(contact_id, score, previous_score)`` values."""
