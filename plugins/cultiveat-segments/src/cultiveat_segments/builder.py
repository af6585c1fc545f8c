"""What the segment builder offers: fields with their types, operators per type, activity types."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cultiveat_segments import catalog
from cultiveat_segments.definitions import (
    COLUMN_TYPES,
    PLUGIN_FIELDS,
    PREFERENCE_LISTS,
    PREFERENCE_TEXT,
    PURCHASE_METRICS,
    PURCHASE_OPS,
)
from cultiveat_segments.permissions import READ

if TYPE_CHECKING:
    from cultiveat_core import CRM, Actor


def vocabulary_for_builder(crm: CRM, actor: Actor) -> dict[str, Any]:
    crm.permissions.require(actor, READ)
    fields = [{"name": n, "type": t, "source": "contact"} for n, t in COLUMN_TYPES.items()]
    for name, field in sorted(crm.registry.contact_fields.items()):
        if field.permission is None or actor.can(field.permission):
            fields.append(
                {"name": name, "type": field.type, "source": "plugin", "label": field.label}
            )
    unavailable = [
        {"name": n, "plugin": p}
        for n, p in PLUGIN_FIELDS.items()
        if n not in crm.registry.contact_fields
    ]
    operators: dict[str, list[dict[str, str]]] = {}
    for op in catalog.operators(crm):
        for kind in op.types:
            operators.setdefault(kind, []).append(
                {"name": op.name, "label": op.label, "value": op.value}
            )
    return {
        "fields": fields,
        "unavailable_fields": unavailable,
        "operators": operators,
        "activity_types": sorted(crm.registry.activity_types),
        "purchase_metrics": list(PURCHASE_METRICS),
        "purchase_operators": list(PURCHASE_OPS),
        "preferences": {"text": list(PREFERENCE_TEXT), "lists": list(PREFERENCE_LISTS)},
        "tag_match": ["any", "all", "none"],
    }
