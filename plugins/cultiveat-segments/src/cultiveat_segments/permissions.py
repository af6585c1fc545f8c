"""The plugin's permissions: marketing manages segments, sales and executives read them."""

from __future__ import annotations

from cultiveat_core import Permission

READ = "segments.read"
MANAGE = "segments.manage"
TRAIN = "segments.train"
PREFERENCES = "segments.preferences"

PERMISSIONS = [
    Permission(
        READ,
        "See segments, their members, history and monitoring",
        ("marketing", "sales", "executive"),
    ),
    Permission(
        MANAGE,
        "Create, edit, delete and refresh segments; add or remove contacts by hand",
        ("marketing",),
    ),
    Permission(TRAIN, "Train and score ML segmentation models", ("marketing",)),
    Permission(
        PREFERENCES,
        "Edit contacts' preferences (interests, channel, frequency, topics)",
        ("marketing",),
    ),
]
