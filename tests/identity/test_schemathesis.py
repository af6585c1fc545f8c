"""schemathesis against /schema, authenticated as an admin (a fresh admin per example).

Runs on the core app (SQLite and PostgreSQL with --cultiveat-db) with a few examples per
operation. Checks: no server error, responses valid against their documented schema, required
headers, unsupported methods, and so on. Not asserted yet (counted and printed): documented
status codes and content types (the core's routes do not all declare their 401/403/404/422
problem+json answers in OpenAPI) and positive-data acceptance (dict bodies whose business
rules reject schema-valid data). The browser login endpoints (/auth/*) are left to the
session tests: their cookies and CSRF tokens are not in the OpenAPI document.
"""

from __future__ import annotations

import os
import uuid

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    ignored_auth,
    positive_data_acceptance,
    status_code_conformance,
)

from cultiveat_core.domain import Actor
from cultiveat_core.web import create_app

EXAMPLES = 5
IDENTITY_PATHS = (
    r"^/api/(users|roles|permissions|tokens|audit|privacy)"
    r"|^/api/contacts/\{contact_id\}/(consent|subject-access|erase)$"
)
NOT_ASSERTED = [status_code_conformance, content_type_conformance, positive_data_acceptance, ignored_auth]


def test_api_conforms_to_its_schema(make_crm):
    crm = make_crm(cookie_secure=False)
    app = create_app(crm, run_jobs=False)
    system = Actor.system("schemathesis")
    # the identity, audit and privacy operations (issue 5); the contacts routes run with
    # ``CULTIVEAT_SCHEMATHESIS_ALL=1`` until they bound their ids (a huge id is a 500 today)
    everything = os.environ.get("CULTIVEAT_SCHEMATHESIS_ALL") == "1"
    pattern = r"^/api/" if everything else IDENTITY_PATHS
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app).include(path_regex=pattern)

    def fresh_admin() -> dict[str, str]:
        user = crm.users.create(system, f"st-{uuid.uuid4().hex[:8]}@example.com", "admin")
        return {"Authorization": f"Bearer {crm.tokens.create(system, user, name='st')[1]}"}

    operations, failures, documentation = 0, {}, {}
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)
        def check(case, excluded):
            case.call_and_validate(headers=fresh_admin(), excluded_checks=excluded)

        try:
            check(excluded=NOT_ASSERTED)
        except BaseException as exc:  # schemathesis raises a FailureGroup (an ExceptionGroup)
            failures[operation.label] = str(exc)[:800]
            continue
        try:
            check(excluded=[])
        except BaseException as exc:
            documentation[operation.label] = str(exc).splitlines()[2:3]
    print(f"\nschemathesis: {operations} operations, {EXAMPLES} examples each; "
          f"{len(failures)} failing the asserted checks; {len(documentation)} with "
          "undocumented status codes/content types or rejected schema-valid data")
    assert not failures, "\n\n".join(f"{k}: {v}" for k, v in failures.items())
