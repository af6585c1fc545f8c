"""The plugin's per-CRM state (``crm.extensions["campaigns"]``): the clock, the settings."""

from __future__ import annotations

from cultiveat_campaigns.clock import Clock
from cultiveat_campaigns.settings import CampaignsSettings
from cultiveat_core import CRM


class CampaignsState:
    def __init__(self, crm: CRM) -> None:
        self.settings = crm.plugin_settings(CampaignsSettings)
        self.clock: Clock = Clock()


def state(crm: CRM) -> CampaignsState:
    found = crm.extensions.get("campaigns")
    if found is None:
        found = crm.extensions["campaigns"] = CampaignsState(crm)
    return found  # type: ignore[no-any-return]
