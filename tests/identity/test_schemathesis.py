"""schemathesis against /schema: every /api operation of the core and of every installed plugin
(entry points), authenticated (a fresh admin token per example: operations under test revoke
tokens and deactivate users), with all of schemathesis's checks, every one asserted.

Asserted, zero failures: no server error, responses and their content types as documented
(``web/problems.py`` documents every operation's problem+json answers), required headers,
unsupported methods, authentication enforced (``ignored_auth``), the other default checks, and
``positive_data_acceptance`` (ST202): a request generated from the schema must be accepted.
Every request body is a declared structure (msgspec, unknown fields refused), so the schema
states what the handler takes. "Accepted" means a 2xx, or one of the business answers a
well-formed request can get: 404 (the path's object, or an object the body refers to by id,
does not exist: generated ids are random), 409 (the request conflicts with the current
state, e.g. a name already taken) and 412 (a precondition on the current state: a one-off
email needs a recent preview of it for that contact). Not accepted: 400 (the schema said the data was valid),
401 and 403 (the caller is a fresh admin), 405, 415, 429 (the throttles are raised for this
run), any 3xx or 5xx, and a 422 unless every field it names is under one of the few
``BUSINESS_RULES`` JSON Schema cannot state (a postcode checked against the country, an
owner id that must be a user's, custom fields defined at run time, an activity type's own
rules for its free-form ``data``). Named formats (``phone``, ``country``, ``user``,
``activity-type``, ``role``) get strategies drawing from the sets they name.

Time-bounded: ``CULTIVEAT_SCHEMATHESIS_EXAMPLES`` examples per operation (default 2, no
shrinking); the counts of operations and calls are printed. ``CULTIVEAT_SCHEMATHESIS_PATHS`` (a
regular expression) narrows the run to some paths while working on them. It runs once per
session: on PostgreSQL when that database is configured (CI), otherwise on SQLite.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import positive_data_acceptance

from cultiveat_core.domain import Actor
from cultiveat_core.web import create_app

EXAMPLES = int(os.environ.get("CULTIVEAT_SCHEMATHESIS_EXAMPLES", "2"))
PATHS = os.environ.get("CULTIVEAT_SCHEMATHESIS_PATHS", "")
# what counts as accepting schema-valid data (see the module's docstring); a 422 passes only
# through ``business_rules`` below
ACCEPTED = ["2xx", "404", "409", "412", "422"]
# Rules JSON Schema cannot state, each checked by the service (422 naming the field) and
# documented in the field's description. A 422 for schema-valid data passes only when every
# field it names is one of these; anything else fails the test.
BUSINESS_RULES = {
    # a postcode's and a state's form depend on the address's country
    r"address\.(zip|state)": "checked against address.country",
    # an integer owner is a user id: random ids name no user (an email gets format "user")
    r"owner": "an existing user",
    # ids of existing objects the campaigns services check with a 422 (not 404) naming them
    r"(steps\[\d+\]\.)?template_id|audience\.contact_ids": "an existing template or contact",
    # a segment definition's {"segment": id} condition names an existing segment (422 naming
    # the condition's path)
    r"definition\..*\.segment|definition\.segment": "an existing segment",
    # a contact cannot be merged into itself (the generated id may be the path's)
    r"merge_id": "not the contact itself",
    # passwords: also at least 3 different characters and not in the common-password list
    r"password": "not a common password",
    # paging cursors are opaque tokens the server issued (next_cursor of a previous page)
    r"cursor|before": "issued by the server",
    # custom fields are defined at run time (POST /api/custom-fields)
    r"custom(\..*)?": "defined at run time",
    # an activity's data is free-form by contract; each activity type checks its own keys
    r"data(\[\d+\])?(\..*)?": "the activity type's rules",
}


# Operations whose positive-data acceptance is counted and printed, not asserted (every other
# check is asserted for them too): an uploaded file's content, and the scoring plugin's rule
# documents, whose rules reach across the document (a rule's group must be declared in the
# same document, rule ids unique): the schema says they are objects and names their keys.
NOT_ASSERTED = {
    # the uploaded file must be CSV (or XLSX) text with a header row; the schema says "binary"
    "POST /api/imports",
    "PUT /api/scoring/rules",
    "POST /api/scoring/rules/validate",
    "POST /api/scoring/rules/items",
    "PATCH /api/scoring/rules/items/{rule_id}",
}


# A further answer schema-valid data may get from one operation: the current password is a
# secret the schema cannot know (401, counted towards the lockout).
ALSO_ACCEPTED = {"POST /api/users/me/password": 401}


def business_rules(ctx, response, case):
    """A 422 for schema-valid data must name only fields of :data:`BUSINESS_RULES`."""
    if response.status_code != 422 or case.meta is None or not case.meta.generation.mode.is_positive:
        return None
    try:
        errors = response.json().get("errors") or [{"field": "(none)"}]
    except ValueError:
        errors = [{"field": "(no problem document)"}]
    fields = [str(e.get("field") or e.get("key") or "(none)") for e in errors]
    outside = [f for f in fields if not any(re.fullmatch(rule, f, re.S) for rule in BUSINESS_RULES)]
    assert not outside, f"schema-valid data refused with 422 on {outside}: {response.text[:300]}"
    return None


def formats(crm) -> None:
    """Strategies for the schema's named formats (bodies.py, schemas.py): values of the set
    each format names (``activity-type``: a registered type; ``user``: an existing user)."""
    import pycountry
    from hypothesis import strategies as st

    owner = crm.users.create(Actor.system("schemathesis"), "owner@example.com", "sales")
    schemathesis.openapi.format("phone", st.from_regex(r"\A\+1[2-9][0-9]{2}[2-9][0-9]{6}\Z"))
    schemathesis.openapi.format("country", st.sampled_from([c.alpha_2 for c in pycountry.countries]))
    schemathesis.openapi.format("user", st.just(owner.email))
    schemathesis.openapi.format("activity-type", st.sampled_from(sorted(crm.registry.activity_types)))
    schemathesis.openapi.format("consent-purpose", st.sampled_from(crm.consent.purposes))
    permissions = sorted(crm.registry.permissions)
    schemathesis.openapi.format("permission", st.sampled_from(permissions))
    schemathesis.openapi.format("scope", st.sampled_from(["*", "contacts.*", *permissions]))
    try:
        from cultiveat_campaigns.channels import channels
    except ImportError:  # the campaigns plugin is not installed
        pass
    else:
        schemathesis.openapi.format("campaign-channel", st.sampled_from(sorted(channels(crm))))
    schemathesis.openapi.format("role", st.sampled_from(["admin", "marketing", "sales", "executive"]))


def _excerpt(value: object, limit: int = 400) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit] + "..."


def test_every_api_operation_conforms_to_its_schema(make_crm, cultiveat_backend, request):
    backends = request.config.getoption("--cultiveat-db").split(",")
    if cultiveat_backend == "sqlite" and "postgresql" in backends:
        pytest.skip("runs once per session, on PostgreSQL (it is also configured): minutes per run")
    environ = {
        **os.environ,
        "CULTIVEAT_EMAIL_WEBHOOK_SECRET": "schemathesis-secret",
        # the forgot-password throttle would answer 429 to schema-valid requests after 20
        "CULTIVEAT_PASSWORD_RESET_MAX_PER_IP": "100000",
        "CULTIVEAT_PASSWORD_RESET_MAX_PER_EMAIL": "100000",
    }
    crm = make_crm(cookie_secure=False, load_entrypoints=True, environ=environ)
    app = create_app(crm, run_jobs=False)
    system = Actor.system("schemathesis")
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app).include(
        path_regex=PATHS or r"^/api/"
    )
    schema.config.checks.positive_data_acceptance.expected_statuses = ACCEPTED
    formats(crm)

    def fresh_admin() -> dict[str, str]:
        user = crm.users.create(system, f"st-{uuid.uuid4().hex[:8]}@example.com", "admin")
        return {"Authorization": f"Bearer {crm.tokens.create(system, user, name='st')[1]}"}

    calls = {"n": 0}
    last: dict[str, object] = {}
    started = time.monotonic()
    operations, failures, refused = 0, {}, {}
    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith("/api/"):
            continue
        operations += 1
        asserted = operation.label not in NOT_ASSERTED

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None, phases=[Phase.explicit, Phase.generate])
        def check(case):
            calls["n"] += 1
            headers = fresh_admin()
            # generous: the first GET /api/segments/models/{run_id} imports the ML stack (about
            # 12 s of CPU, minutes on a loaded shared box); this test is about conformance
            response = case.call(headers=headers, timeout=300)
            last["sent"] = case.body if not isinstance(case.body, bytes) else "<bytes>"
            last["status"] = response.status_code
            last["answer"] = response.content[:400].decode("utf-8", "replace")
            if not asserted and not (200 <= response.status_code < 300
                                     or response.status_code in (404, 409, 412)):
                refused[operation.label] = response.status_code
            also = ALSO_ACCEPTED.get(operation.label) == response.status_code
            case.validate_response(
                response,
                headers=headers,
                additional_checks=[business_rules] if asserted else [],
                excluded_checks=[] if asserted and not also else [positive_data_acceptance],
                transport_kwargs={"headers": headers, "timeout": 300},
            )

        try:
            check()
        except BaseException as exc:  # schemathesis raises a FailureGroup (an ExceptionGroup)
            if isinstance(exc, KeyboardInterrupt):
                raise
            inner = "; ".join(" ".join(str(e).split())[:400] for e in getattr(exc, "exceptions", []))
            failures[operation.label] = (
                f"{inner or str(exc)[:600]} | sent {_excerpt(last.get('sent'))} -> "
                f"{last.get('status')} {_excerpt(last.get('answer', ''))}"
            )
    seconds = time.monotonic() - started
    print(f"\nschemathesis: {operations} operations, up to {EXAMPLES} examples each, "
          f"{calls['n']} calls in {seconds:.0f} s; {len(failures)} failing: {sorted(failures)}; "
          f"positive data acceptance not asserted for {len(NOT_ASSERTED)}, of which refusing "
          f"schema-valid data: {refused}")
    if not PATHS:
        assert operations >= 100, "the core and the plugins' operations should all be in /schema"
    assert not failures, "\n\n".join(f"{k}: {v}" for k, v in failures.items())
