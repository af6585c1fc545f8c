"""The campaigns plugin's settings: ``CULTIVEAT_CAMPAIGNS_*`` or a ``[campaigns]`` TOML table."""

from __future__ import annotations

from typing import ClassVar

import attrs


@attrs.frozen(kw_only=True)
class CampaignsSettings:
    plugin: ClassVar[str] = "campaigns"

    # Base URL of the tracking and unsubscribe links (where `cultiveat serve` is reachable).
    public_url: str = "http://127.0.0.1:8000"
    # Default capacity per campaign (0 = no limit); a campaign's own ``capacity`` overrides it.
    default_capacity: int = 0
    # A preview of the template for the contact must be this recent to send to an individual.
    preview_valid_minutes: int = 60
    # Purchases this many days after a send count as the campaign's conversions.
    attribution_days: int = 30
    # How often the scheduler starts due campaigns and advances sequences.
    tick_seconds: int = 60
