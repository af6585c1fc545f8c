"""The compiled SQL selects exactly what the reference Python evaluator selects (property-based)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from cultiveat_segments import catalog
from cultiveat_segments.compiler import CompileContext, compile_node
from cultiveat_segments.definitions import analyse
from cultiveat_segments.plugin import service
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cultiveat_core.db import tables as core

from .data import SYSTEM, populate
from .reference import load_world, select

TEXT_VALUES = st.sampled_from(["ceo", "CTO", "chief", "Retail", "Hot Lead", "pro", "", "e", "=1+1"])
NUMBERS = st.sampled_from([0, 5, 100, 101, 999.5, 1000, 5000])


def text_condition(field: str) -> st.SearchStrategy:
    return st.one_of(
        st.builds(
            lambda op, v: {"field": field, "op": op, "value": v},
            st.sampled_from(["=", "!=", "contains", "not_contains", "starts_with", "ends_with"]),
            TEXT_VALUES,
        ),
        st.builds(
            lambda op, v: {"field": field, "op": op, "value": v},
            st.sampled_from(["in", "not_in"]),
            st.lists(TEXT_VALUES, min_size=1, max_size=3),
        ),
        st.sampled_from(["is_empty", "is_not_empty", "is_c_level"]).map(
            lambda op: {"field": field, "op": op}
        ),
    )


def number_condition(field: str) -> st.SearchStrategy:
    return st.one_of(
        st.builds(
            lambda op, v: {"field": field, "op": op, "value": v},
            st.sampled_from(["=", "!=", ">", ">=", "<", "<="]),
            NUMBERS,
        ),
        st.builds(
            lambda lo, hi: {"field": field, "op": "between", "value": [min(lo, hi), max(lo, hi)]},
            NUMBERS,
            NUMBERS,
        ),
        st.sampled_from(["is_empty", "is_not_empty"]).map(lambda op: {"field": field, "op": op}),
    )


CONDITION_KINDS = [
    text_condition("position"),
    text_condition("industry"),
    text_condition("stage"),
    number_condition("company_size"),
    st.builds(
        lambda op, v: {"custom": "plan", "op": op, "value": v},
        st.sampled_from(["=", "!=", "contains", "starts_with"]),
        TEXT_VALUES,
    ),
    st.builds(
        lambda op, v: {"custom": "seats", "op": op, "value": v},
        st.sampled_from([">", "<=", "!="]),
        NUMBERS,
    ),
    st.sampled_from(["is_true", "is_false"]).map(lambda op: {"custom": "trial", "op": op}),
    st.builds(
        lambda op, v: {"custom": "undeclared", "op": op, "value": v},
        st.sampled_from(["=", "!="]),
        NUMBERS,
    ),
    st.builds(
        lambda tags, match: {"tags": tags, "match": match},
        st.lists(st.sampled_from(["alpha", "Beta", "gamma", "delta"]), min_size=1, max_size=3),
        st.sampled_from(["any", "all", "none"]),
    ),
    st.builds(
        lambda kinds, days, low, span: {
            "activity": kinds,
            "within_days": days,
            "min_count": low,
            **({"max_count": low + span} if span is not None else {}),
        },
        st.lists(
            st.sampled_from(["email_clicked", "email_opened", "demo_requested", "purchase"]),
            min_size=1,
            max_size=2,
        ),
        st.sampled_from([None, 7, 14, 30]),
        st.integers(0, 3),
        st.sampled_from([None, 0, 2]),
    )
    .map(lambda d: {k: v for k, v in d.items() if v is not None})
    .filter(lambda d: d.get("min_count", 1) > 0 or "max_count" in d),
    st.builds(
        lambda metric, op, value, days: {
            "purchase": metric,
            "op": op,
            "value": value,
            **({"within_days": days} if days else {}),
        },
        st.sampled_from(
            ["total_spent", "purchase_count", "average_order_value", "days_since_last_purchase"]
        ),
        st.sampled_from([">", ">=", "<", "<="]),
        st.sampled_from([0, 1, 2, 15, 75, 300]),
        st.sampled_from([None, 30]),
    ),
    st.builds(
        lambda op, v: {"preference": "preferred_channel", "op": op, "value": v},
        st.sampled_from(["=", "!="]),
        st.sampled_from(["email", "web"]),
    ),
    st.builds(
        lambda op, v: {"preference": "interests", "op": op, "value": v},
        st.sampled_from(["includes", "excludes"]),
        st.sampled_from(["analytics", "crm"]),
    ),
    st.just({"segment": "static"}),
]
# a uniform choice of condition kind first, so every kind is exercised as often as the others
CONDITIONS = st.sampled_from(CONDITION_KINDS).flatmap(lambda kind: kind)

DEFINITIONS = st.recursive(
    CONDITIONS,
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda xs: {"all": xs}),
        st.lists(children, min_size=1, max_size=3).map(lambda xs: {"any": xs}),
        children.map(lambda x: {"not": x}),
    ),
    max_leaves=6,
)


def _bind_segment(definition, segment_id):
    if isinstance(definition, dict):
        if definition.get("segment") == "static":
            return {"segment": segment_id}
        return {k: _bind_segment(v, segment_id) for k, v in definition.items()}
    if isinstance(definition, list):
        return [_bind_segment(v, segment_id) for v in definition]
    return definition


@pytest.mark.parametrize("seed", [1, 2])
def test_compiled_sql_selects_what_the_reference_evaluator_selects(crm, seed):
    from .data import now

    when = now()
    ids = populate(crm, seed, count=36, when=when)
    static = service(crm).create(SYSTEM, {"name": "Hand picked", "kind": "static"})
    service(crm).set_overrides(SYSTEM, static["id"], ids[::4], "include")
    with crm.engine.connect() as conn:
        world = load_world(conn)
        vocab = catalog.vocabulary(crm, conn)
    ctx = CompileContext(dialect=crm.engine.dialect.name, now=when)

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(DEFINITIONS)
    def check(definition):
        definition = _bind_segment(definition, static["id"])
        analysis = analyse(definition, vocab)
        assert analysis.ok, analysis.errors
        with crm.engine.connect() as conn:
            got = set(
                conn.execute(
                    sa.select(core.contacts.c.id).where(compile_node(analysis.node, ctx))
                ).scalars()
            )
        assert got == select(analysis.node, world, when), definition

    check()
