"""Every test gets a CRM with the core and this plugin only, on a fresh migrated database."""

import cultiveat_example_reminders.plugin
import pytest

from cultiveat_core import Actor


@pytest.fixture
def crm(make_crm):
    return make_crm(plugins=[cultiveat_example_reminders.plugin])


@pytest.fixture
def system():
    return Actor.system("tests")


@pytest.fixture
def contact(crm, system):
    return crm.contacts.create(system, {"email": "ann@example.com", "first_name": "Ann", "last_name": "Lee"})
