"""schemathesis against /schema: every /api operation of the core and of every installed plugin
(entry points), authenticated (a fresh admin token per example: operations under test revoke
tokens and deactivate users), with all of schemathesis's checks.

Asserted, zero failures: no server error, responses and their content types as documented
(``web/problems.py`` documents every operation's problem+json answers), required headers,
unsupported methods, authentication enforced (``ignored_auth``), and the other default checks.
``positive_data_acceptance`` (ST202: a body valid for the schema must be accepted) runs in a
second pass and is counted, not asserted: operations that take a free-form JSON object (a
``dict`` body) check their rules in the service, which the schema does not express.

Time-bounded: ``CULTIVEAT_SCHEMATHESIS_EXAMPLES`` examples per operation (default 2, no
shrinking); the counts of operations and examples are printed. It runs once per session: on
PostgreSQL when that database is configured (CI), otherwise on SQLite.
"""

from __future__ import annotations

import os
import time
import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import positive_data_acceptance

from cultiveat_core.domain import Actor
from cultiveat_core.web import create_app

EXAMPLES = int(os.environ.get("CULTIVEAT_SCHEMATHESIS_EXAMPLES", "2"))


def test_every_api_operation_conforms_to_its_schema(make_crm, cultiveat_backend, request):
    backends = request.config.getoption("--cultiveat-db").split(",")
    if cultiveat_backend == "sqlite" and "postgresql" in backends:
        pytest.skip("runs once per session, on PostgreSQL (it is also configured): minutes per run")
    environ = {**os.environ, "CULTIVEAT_EMAIL_WEBHOOK_SECRET": "schemathesis-secret"}
    crm = make_crm(cookie_secure=False, load_entrypoints=True, environ=environ)
    app = create_app(crm, run_jobs=False)
    system = Actor.system("schemathesis")
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app).include(path_regex=r"^/api/")

    def fresh_admin() -> dict[str, str]:
        user = crm.users.create(system, f"st-{uuid.uuid4().hex[:8]}@example.com", "admin")
        return {"Authorization": f"Bearer {crm.tokens.create(system, user, name='st')[1]}"}

    calls = {"n": 0}
    started = time.monotonic()
    operations, failures, rejected = 0, {}, {}
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None, phases=[Phase.explicit, Phase.generate])
        def check(case, **kwargs):
            calls["n"] += 1
            # generous: the first GET /api/segments/models/{run_id} imports the ML stack (about 12 s
            # of CPU, minutes on a loaded shared box); this test is about conformance, not latency
            case.call_and_validate(headers=fresh_admin(), timeout=300, **kwargs)

        try:
            check(excluded_checks=[positive_data_acceptance])
        except BaseException as exc:  # schemathesis raises a FailureGroup (an ExceptionGroup)
            inner = "; ".join(str(e)[:600] for e in getattr(exc, "exceptions", []))
            failures[operation.label] = (str(exc)[:600] + " | " + inner)[:1500]
        try:
            check(checks=[positive_data_acceptance])
        except BaseException as exc:
            rejected[operation.label] = str(exc).splitlines()[:1]
    seconds = time.monotonic() - started
    print(f"\nschemathesis: {operations} operations, up to {EXAMPLES} examples each per pass, "
          f"{calls['n']} calls in {seconds:.0f} s; {len(failures)} failing the asserted checks; "
          f"{len(rejected)} rejecting schema-valid data (ST202, not asserted): {sorted(rejected)}")
    assert operations >= 100, "the core and the plugins' operations should all be in /schema"
    assert not failures, "\n\n".join(f"{k}: {v}" for k, v in failures.items())
