"""Every test gets a CRM with the core and this plugin only, on a fresh migrated database."""

import cultiveat_example_hello.plugin
import pytest


@pytest.fixture
def log_path(tmp_path):
    return tmp_path / "hello.jsonl"


@pytest.fixture
def crm(make_crm, log_path):
    return make_crm(
        plugins=[cultiveat_example_hello.plugin],
        environ={"CULTIVEAT_HELLO_LOG_PATH": str(log_path)},
    )
