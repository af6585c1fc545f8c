"""Hooks the segments plugin declares for other plugins (exposed as ``plugin.hookspecs``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cultiveat_core import hookspec

if TYPE_CHECKING:
    from cultiveat_core import CRM


@hookspec
def register_segment_operators(crm: CRM) -> list[Any]:
    """``SegmentOperator`` values usable in segment conditions (e.g. ``is_c_level``)."""


@hookspec
def segment_membership_changed(
    crm: CRM, segment_id: int, segment_name: str, entered: list[int], left: list[int], reason: str
) -> None:
    """After commit: contacts ``entered`` or ``left`` segment ``segment_id`` (reason: refresh,
    event, manual or model). Fired once per segment and transaction, with every contact id."""
