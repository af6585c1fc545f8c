"""Rule set -> SQL: one SELECT computing every contact's rule points, groups and score.

Everything is set-based: activity rules become aggregates in a single GROUP BY over the
activities (one pass), field rules become CASE expressions over the contacts row, plugin
conditions become boolean expressions. The same query serves the full recompute (all
contacts), the incremental rescore (a set of ids) and the explanation (one contact, with the
extra "when" columns), so the three can never disagree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles

from cultiveat_core.db import tables
from cultiveat_core.db.metadata import UTCDateTime

a = tables.activities
c = tables.contacts
PUNCTUATION = ",.-/&()_;"


@attrs.frozen
class IdRange:
    """Contacts with ``low <= id < high``: a full recompute's chunk, filtered as a range on both
    the contacts and the activities (an index range scan), not as ``IN (SELECT ...)``."""

    low: int
    high: int


def restrict(column: Any, contact_filter: Any | None) -> Any:
    """``column`` limited to the contacts of ``contact_filter`` (ids, a SELECT or an IdRange)."""
    if contact_filter is None:
        return None
    if isinstance(contact_filter, IdRange):
        return sa.and_(column >= contact_filter.low, column < contact_filter.high)
    return column.in_(contact_filter)


def normalise_words(text: str) -> str:
    """Lower-case, punctuation to spaces, single spaces: the form titles are matched in."""
    lowered = text.lower()
    for ch in PUNCTUATION:
        lowered = lowered.replace(ch, " ")
    return " ".join(lowered.split())


class substring_position(sa.sql.functions.FunctionElement[int]):
    """Where ``part`` starts in ``text`` (1-based, 0 when absent), an exact byte search:
    ``strpos`` on PostgreSQL, ``instr`` on SQLite. Cheaper than ``LIKE '%...%'``, which SQLite
    evaluates with case folding on every character."""

    type = sa.Integer()
    name = "strpos"
    inherit_cache = True


@compiles(substring_position)
def _strpos(element: substring_position, compiler: Any, **kw: Any) -> str:
    return f"strpos({compiler.process(element.clauses, **kw)})"


@compiles(substring_position, "sqlite")
def _instr(element: substring_position, compiler: Any, **kw: Any) -> str:
    return f"instr({compiler.process(element.clauses, **kw)})"


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _words_sql(expr: Any) -> Any:
    """`` <normalised text> `` padded with spaces so ``LIKE '% ceo %'`` matches whole words."""
    out = sa.func.lower(sa.func.coalesce(expr, ""))
    for ch in PUNCTUATION:
        out = sa.func.replace(out, ch, " ")
    return sa.literal(" ") + out + sa.literal(" ")


def _field_expr(base: Any, field: str, numeric: bool) -> Any:
    if field.startswith("custom."):
        value = base.c.custom[field[7:]]
        return value.as_float() if numeric else value.as_string()
    return base.c[field]


def _zero(column: Any) -> Any:
    """A non-NULL stand-in for NULL in a join key of ``column``'s type (NULL never joins)."""
    return 0 if isinstance(column.type, sa.Integer) else ""


def words_column(field: str) -> str:
    return "w_" + field.replace(".", "_")


def _choice_condition(base: Any, field: str, choice: Mapping[str, Any]) -> Any:
    op = choice["op"]
    numeric = op in ("gte", "lte", "between")
    expr = _field_expr(base, field, numeric)
    if op == "is_set":
        return sa.and_(expr.is_not(None), sa.cast(expr, sa.String) != "")
    if op == "gte":
        return expr >= choice["value"]
    if op == "lte":
        return expr <= choice["value"]
    if op == "between":
        return expr.between(choice["values"][0], choice["values"][1])
    if op == "equals":
        return sa.func.lower(sa.func.trim(expr)).in_([v.strip().lower() for v in choice["values"]])
    if op == "contains":
        lowered = sa.func.lower(sa.func.coalesce(expr, ""))
        return sa.or_(
            *(lowered.like(f"%{_like_escape(v.lower())}%", escape="\\") for v in choice["values"])
        )
    words = base.c[words_column(field)]
    patterns = sorted({normalise_words(v) for v in choice["values"] if normalise_words(v)})
    return sa.or_(*(substring_position(words, sa.literal(f" {p} ")) > 0 for p in patterns))


def field_points(base: Any, rule: Mapping[str, Any]) -> Any:
    whens = [
        (_choice_condition(base, rule["field"], ch), float(ch["points"])) for ch in rule["choices"]
    ]
    return sa.case(*whens, else_=float(rule["otherwise"] or 0.0))


def field_choice_index(base: Any, rule: Mapping[str, Any]) -> Any:
    whens = [
        (_choice_condition(base, rule["field"], ch), i) for i, ch in enumerate(rule["choices"])
    ]
    return sa.case(*whens, else_=-1)


def _property_condition(cond: Mapping[str, Any], src: Any) -> Any:
    value = sa.func.lower(src.c.data[cond["property"]].as_string())
    if cond["op"] == "equals":
        return value == str(cond["value"]).lower()
    if cond["op"] == "in":
        return value.in_([str(v).lower() for v in cond["value"]])
    return value.like(f"%{_like_escape(str(cond['value']).lower())}%", escape="\\")


def activity_match(rule: Mapping[str, Any], src: Any = a) -> Any:
    return sa.and_(
        src.c.type.in_(rule["activity_types"]),
        *(_property_condition(w, src) for w in rule.get("where", [])),
    )


class RuleCompiler:
    """Builds the scoring SELECT for one rule set, dialect and moment ``now``."""

    def __init__(
        self,
        document: Mapping[str, Any],
        dialect: str,
        now: datetime,
        conditions: Mapping[str, Any],
    ) -> None:
        self.doc = document
        self.dialect = dialect
        self.now = now
        self.conditions = conditions
        self.rules: list[Mapping[str, Any]] = list(document["rules"])
        self.groups = {g["name"]: g for g in document["groups"]}

    # -- time ------------------------------------------------------------------------------

    def _now_param(self) -> Any:
        return sa.literal(self.now, UTCDateTime)

    def decay_factor(self) -> Any:
        decay = self.doc["decay"]
        if decay["mode"] == "half_life":
            rate = math.log(2) / float(decay["half_life_days"])
            if self.dialect == "sqlite":
                now_text = self.now.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
                age = sa.func.julianday(sa.literal(now_text)) - sa.func.julianday(a.c.occurred_at)
                return sa.func.exp(-rate * age)
            # date_part() is double precision; EXTRACT (numeric since PostgreSQL 14) of an
            # interval cost about 1 s more per 3 million rows
            now = self.now if self.now.tzinfo else self.now.replace(tzinfo=UTC)
            seconds = sa.func.date_part("epoch", a.c.occurred_at) - now.timestamp()
            return sa.func.exp(sa.literal(rate / 86400.0, sa.Float) * seconds)
        if decay["mode"] == "window":
            since = self.now - timedelta(days=float(decay["window_days"]))
            return sa.case((a.c.occurred_at >= sa.literal(since, UTCDateTime), 1.0), else_=0.0)
        return sa.literal(1.0)

    # -- per-rule expressions ----------------------------------------------------------------

    def _activity_rules(self) -> list[Mapping[str, Any]]:
        return [r for r in self.rules if r["type"] in ("activity", "activity_count")]

    def _row_value(self, rule: Mapping[str, Any], src: Any) -> Any:
        """What one activity row gives ``rule``: NULL (or 0 for counts) when it does not match."""
        match = activity_match(rule, src)
        if rule["type"] == "activity_count":
            since = self.now - timedelta(days=float(rule["window_days"]))
            recent = sa.and_(match, src.c.occurred_at >= sa.literal(since, UTCDateTime))
            return sa.case((recent, 1), else_=0)
        factor = src.c.decay if rule.get("decay", True) else sa.literal(1.0)
        if rule["repeat"] == "once":
            return sa.case((match, factor))
        return sa.case((match, float(rule["points"]) * factor))

    @staticmethod
    def _aggregate(rule: Mapping[str, Any], value: Any) -> Any:
        """The rule's points from its per-row values, over one contact's activities."""
        if rule["type"] == "activity_count":
            count = sa.func.sum(value)
            return sa.case((count >= int(rule["min_count"]), float(rule["points"])), else_=0.0)
        if rule["repeat"] == "once":
            return float(rule["points"]) * sa.func.coalesce(sa.func.max(value), 0.0)
        total = sa.func.coalesce(sa.func.sum(value), 0.0)
        if rule.get("cap") is None:
            return total
        cap = float(rule["cap"])
        return sa.case((total > cap, cap), else_=total)

    def activity_subquery(self, contact_filter: Any | None, *, explain: bool = False) -> Any | None:
        """One pass over the activities: per contact, each activity rule's points.

        The matching rows with their decay factor (computed once per row; OFFSET 0 keeps the
        level apart), then one GROUP BY contact_id with a conditional sum/max per rule.
        """
        rules = self._activity_rules()
        if not rules:
            return None
        types = sorted({t for r in rules for t in r["activity_types"]})
        kind = a.c.type
        if self.dialect == "sqlite" and contact_filter is not None:
            # `type || ''` keeps SQLite off the (type, occurred_at, contact_id) index: through
            # (contact_id, occurred_at) it reads a range or a set of contacts in contact order
            # and groups them as they come, instead of reading every activity of these types
            # and sorting them into groups
            kind = kind + ""
        rows = sa.select(
            a.c.contact_id, a.c.type, a.c.occurred_at, a.c.data, self.decay_factor().label("decay")
        ).where(kind.in_(types), a.c.occurred_at <= self._now_param())
        if self.doc["decay"]["mode"] == "window" and all(
            r["type"] == "activity" and r.get("decay", True) for r in rules
        ):
            since = self.now - timedelta(days=float(self.doc["decay"]["window_days"]))
            rows = rows.where(a.c.occurred_at >= sa.literal(since, UTCDateTime))
        ids: Any = None
        src: Any
        if contact_filter is not None and self.per_contact(contact_filter):
            ids = contact_filter.subquery("scoring_ids")
            rows = rows.where(a.c.contact_id == next(iter(ids.c)))
        elif contact_filter is not None:
            rows = rows.where(restrict(a.c.contact_id, contact_filter))
        if ids is None:
            src = rows.offset(0).subquery("scoring_activities")
            contact_id = src.c.contact_id
            source: Any = src
        else:
            # each contact's activities read through the (contact_id, occurred_at) index: a
            # 50,000-contact delta reads ~300k rows instead of hash-joining all the activities
            # (the planner's choice, from its per-contact estimate)
            src = rows.offset(0).lateral("scoring_activities")
            contact_id = next(iter(ids.c))
            source = ids.join(src, sa.true())
        columns = [contact_id.label("contact_id")]
        for i, rule in enumerate(rules):
            columns.append(self._aggregate(rule, self._row_value(rule, src)).label(f"r_{i}"))
            if explain:
                when = sa.case((activity_match(rule, src), src.c.occurred_at))
                columns.append(sa.func.count(when).label(f"n_{i}"))
                columns.append(sa.func.min(when).label(f"first_{i}"))
                columns.append(sa.func.max(when).label(f"last_{i}"))
        return (
            sa.select(*columns)
            .select_from(source)
            .group_by(contact_id)
            .subquery("scoring_activity_points")
        )

    def per_contact(self, contact_filter: Any | None) -> bool:
        """Whether the activities are aggregated per contact of ``contact_filter`` (a SELECT of
        ids, on PostgreSQL) rather than grouped over a range or a list."""
        return self.dialect == "postgresql" and isinstance(contact_filter, sa.Select)

    def contacts_base(self, contact_filter: Any | None) -> Any:
        """The contacts with each word-matched field normalised once (not once per pattern)."""
        fields = sorted(
            {
                r["field"]
                for r in self.rules
                if r["type"] == "field"
                and r["field"] not in self.looked_up_fields(contact_filter)
                and any(ch["op"] == "has_words" for ch in r["choices"])
            }
        )
        words = [_words_sql(_field_expr(c, f, False)).label(words_column(f)) for f in fields]
        query = sa.select(*c.columns, *words)
        if contact_filter is not None:
            query = query.where(restrict(c.c.id, contact_filter))
        # OFFSET 0: the normalised words are computed once per contact, not once per pattern
        # (a flattened subquery would copy the nine nested replace() calls into every LIKE)
        return query.offset(0).subquery("scoring_contacts")

    def looked_up_fields(self, contact_filter: Any | None) -> list[str]:
        """The contact columns whose field rules are evaluated once per distinct value: in a
        full run (all contacts or an id range) on PostgreSQL. A set of ids is scored per
        contact: finding its distinct values would read the contacts and the set once more per
        field."""
        if self.dialect != "postgresql" or (
            contact_filter is not None and not isinstance(contact_filter, IdRange)
        ):
            # SQLite's planner loops over the small lookups outside the contacts
            return []
        return sorted(
            {r["field"] for r in self.rules if r["type"] == "field" and r["field"] in c.c}
        )

    def field_lookup(self, field: str, contact_filter: Any | None, *, explain: bool) -> Any:
        """``field``'s rules evaluated once per distinct value among the contacts: (is_null,
        key, p_<rule>...). Titles repeat (500,000 contacts held 20 titles and 11 industries
        in the benchmark data), and normalising a title and matching ~60 phrases cost about
        as much as aggregating the activities when done per contact."""
        column = c.c[field]
        values = sa.select(column.label(field)).group_by(column)
        if contact_filter is not None:
            values = values.where(restrict(c.c.id, contact_filter))
        distinct = values.subquery(f"scoring_values_{field}")
        rules = [r for r in self.rules if r["type"] == "field" and r["field"] == field]
        words = []
        if any(ch["op"] == "has_words" for r in rules for ch in r["choices"]):
            words.append(_words_sql(distinct.c[field]).label(words_column(field)))
        # OFFSET 0: normalised once per value, not once per pattern
        normal = sa.select(distinct.c[field], *words).offset(0).subquery(f"scoring_words_{field}")
        columns = [
            normal.c[field].is_(None).label("is_null"),
            sa.func.coalesce(normal.c[field], _zero(column)).label("key"),
        ]
        for rule in rules:
            columns.append(field_points(normal, rule).label(f"p_{rule['id']}"))
            if explain:
                columns.append(field_choice_index(normal, rule).label(f"choice_{rule['id']}"))
        return sa.select(*columns).subquery(f"scoring_lookup_{field}")

    def rule_columns(
        self, contact_filter: Any | None, *, explain: bool = False
    ) -> tuple[Any, list[str]]:
        """SELECT (id, p_<rule>...) per contact, and the rule ids in column order."""
        agg = self.activity_subquery(contact_filter, explain=explain)
        activity_index = {r["id"]: i for i, r in enumerate(self._activity_rules())}
        base = self.contacts_base(contact_filter)
        source: Any = base if agg is None else base.outerjoin(agg, agg.c.contact_id == base.c.id)
        lookups = {}
        for field in self.looked_up_fields(contact_filter):
            lookup = lookups[field] = self.field_lookup(field, contact_filter, explain=explain)
            value = base.c[field]
            source = source.join(
                lookup,
                sa.and_(
                    lookup.c.is_null == value.is_(None),
                    lookup.c.key == sa.func.coalesce(value, _zero(c.c[field])),
                ),
            )
        columns: list[Any] = [base.c.id.label("contact_id")]
        names: list[str] = []
        for rule in self.rules:
            if rule["type"] == "field" and rule["field"] in lookups:
                lookup = lookups[rule["field"]]
                expr = lookup.c[f"p_{rule['id']}"]
                if explain:
                    columns.append(lookup.c[f"choice_{rule['id']}"].label(f"choice_{rule['id']}"))
            elif rule["type"] == "field":
                expr = field_points(base, rule)
                if explain:
                    columns.append(field_choice_index(base, rule).label(f"choice_{rule['id']}"))
            elif rule["type"] == "condition":
                condition = self.conditions[rule["condition"]]
                expr = sa.case(
                    (condition.sql(base, rule.get("params", {})), float(rule["points"])), else_=0.0
                )
            else:
                assert agg is not None
                i = activity_index[rule["id"]]
                expr = sa.func.coalesce(agg.c[f"r_{i}"], 0.0)
                if explain:
                    columns.extend(
                        [
                            agg.c[f"n_{i}"].label(f"n_{rule['id']}"),
                            agg.c[f"first_{i}"].label(f"first_{rule['id']}"),
                            agg.c[f"last_{i}"].label(f"last_{rule['id']}"),
                        ]
                    )
            columns.append(expr.label(f"p_{rule['id']}"))
            names.append(rule["id"])
        return sa.select(*columns).select_from(source), names

    def implied_groups(self) -> set[str]:
        """Groups whose value is their part's (fit or engagement): the only group of its part
        in the total, so comparing the part compares the group."""
        implied = set()
        for part in ("fit", "engagement"):
            members = [n for n, g in self.groups.items() if g["part"] == part and g["in_total"]]
            if len(members) == 1:
                implied.add(members[0])
        return implied

    # -- groups, totals, score ---------------------------------------------------------------

    @staticmethod
    def _capped(expr: Any, cap: float | None, floor: float | None = None) -> Any:
        if cap is not None:
            expr = sa.case((expr > cap, float(cap)), else_=expr)
        if floor is not None:
            expr = sa.case((expr < floor, float(floor)), else_=expr)
        return expr

    def _json_object(self, pairs: Sequence[tuple[str, Any]]) -> Any:
        args: list[Any] = []
        for key, value in pairs:
            args.extend([sa.literal(key), value])
        return (
            sa.func.jsonb_build_object(*args)
            if self.dialect == "postgresql"
            else sa.func.json_object(*args)
        )

    def score_select(self, contact_filter: Any | None) -> Any:
        """SELECT contact_id, score, fit, engagement, total, engagement %, hot, band, groups,
        and each group's value as ``g_<name>``."""
        rules_query, _ = self.rule_columns(contact_filter)
        # OFFSET 0 keeps PostgreSQL and SQLite from flattening the levels into one another,
        # which would copy each rule's expression into every reference and evaluate it again
        per_rule = rules_query.offset(0).subquery("scoring_rule_points")
        group_exprs: dict[str, Any] = {}
        for name, group in self.groups.items():
            members = [per_rule.c[f"p_{r['id']}"] for r in self.rules if r["group"] == name]
            total = sum(members[1:], members[0]) if members else sa.literal(0.0)
            group_exprs[name] = self._capped(total, group["cap"]).label(f"g_{name}")
        grouped = sa.select(per_rule.c.contact_id, *group_exprs.values()).subquery("scoring_groups")

        def part(kind: str) -> Any:
            parts = [
                grouped.c[f"g_{n}"]
                for n, g in self.groups.items()
                if g["part"] == kind and g["in_total"]
            ]
            return sum(parts[1:], parts[0]) if parts else sa.literal(0.0)

        parts = sa.select(
            grouped.c.contact_id,
            part("fit").label("fit"),
            part("engagement").label("engagement"),
            *(grouped.c[f"g_{n}"] for n in self.groups),
        ).subquery("scoring_parts")
        capped_total = self._capped(
            parts.c.fit + parts.c.engagement, self.doc.get("total_cap"), 0.0
        )
        summed = sa.select(*parts.c, capped_total.label("total")).subquery("scoring_summed")
        totals = (
            sa.select(*summed.c, sa.cast(sa.func.round(summed.c.total), sa.Integer).label("score"))
            .offset(0)
            .subquery("scoring_totals")
        )
        total = totals.c.total
        score = totals.c.score
        ceiling = float(self.doc["engagement_ceiling"])
        percent = sa.cast(
            sa.func.round(self._capped(100.0 * totals.c.engagement / ceiling, 100.0, 0.0)),
            sa.Integer,
        )
        threshold = float(self.doc["hot_threshold"])
        bands = [(score >= float(b["min"]), b["name"]) for b in self.doc["bands"]]
        band = sa.case(*bands, else_=self.doc["bands"][-1]["name"])
        groups_json = self._json_object([(n, totals.c[f"g_{n}"]) for n in self.groups])
        return sa.select(
            *(totals.c[f"g_{n}"] for n in self.groups),
            totals.c.contact_id,
            score.label("score"),
            totals.c.fit.label("fit"),
            totals.c.engagement.label("engagement"),
            total.label("total"),
            percent.label("engagement_percent"),
            (score >= threshold).label("hot"),
            band.label("band"),
            groups_json.label("groups"),
        )
