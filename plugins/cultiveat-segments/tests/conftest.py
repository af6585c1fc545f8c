"""Every test gets a CRM with the core and this plugin only, on a fresh migrated database."""

from __future__ import annotations

import cultiveat_segments.plugin
import pytest


@pytest.fixture
def crm(make_crm):
    return make_crm(plugins=[cultiveat_segments.plugin])
