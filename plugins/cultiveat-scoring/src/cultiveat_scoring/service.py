"""The scoring service: rule sets (versioned), set-based scoring runs, explanations, history.

A run scores a set of contacts (all, an id range, a list of ids, or the dirty ones) with a
handful of statements: INSERT ... SELECT the new scores (beside the stored ones) into the
temporary table ``scoring_run``, read the crossings of the hot threshold, append history rows
for changed scores, UPDATE ``scoring_scores`` where something changed, INSERT the contacts
scored for the first time. Events and the optional "Hot Lead" stage update happen after the
commit.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from cultiveat_core.db import tables as core
from cultiveat_core.db.metadata import utcnow
from cultiveat_core.domain import Actor
from cultiveat_core.errors import NotFound, ValidationError
from cultiveat_scoring import tables
from cultiveat_scoring.compiler import IdRange, RuleCompiler, restrict
from cultiveat_scoring.conditions import ScoreCondition
from cultiveat_scoring.rules import default_rule_set, validate_rule_set
from cultiveat_scoring.settings import ScoringSettings

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

log = logging.getLogger("cultiveat.scoring")
SCORE_COLUMNS = (
    "score",
    "fit",
    "engagement",
    "total",
    "engagement_percent",
    "hot",
    "band",
    "groups",
)
Progress = Callable[[int, int, str], None]
# a stored row is rewritten when an integer or flag changed or a number moved by this much:
# the API shows numbers to 2 decimals, and decay moves every engaged contact's engagement a
# little each hour (rewriting all of them was 6 s of a 500,000-contact run)
FLOAT_COLUMNS = ("fit", "engagement", "total", "groups")
MOVED_BY = 0.005


def _moved(old: Any, new: Any) -> Any:
    """``old`` and ``new`` differ by at least MOVED_BY (or either is missing)."""
    return sa.func.coalesce(sa.func.abs(new - old) >= MOVED_BY, sa.true())


@attrs.frozen
class HotLead:
    contact_id: int
    score: int
    previous_score: int | None


@attrs.frozen
class RunResult:
    scored: int
    became_hot: tuple[HotLead, ...]
    rule_set_version: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "scored": self.scored,
            "became_hot": len(self.became_hot),
            "rule_set_version": self.rule_set_version,
        }


def _upsert(dialect: str) -> Any:
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


class ScoringService:
    def __init__(self, crm: CRM) -> None:
        self.crm = crm
        self._documents: dict[int, dict[str, Any]] = {}

    @property
    def settings(self) -> ScoringSettings:
        return self.crm.plugin_settings(ScoringSettings)

    @property
    def dialect(self) -> str:
        return self.crm.engine.dialect.name

    def conditions(self) -> dict[str, ScoreCondition]:
        found = self.crm.registry.extra(self.crm, "register_score_conditions")  # noqa: S610
        return {cond.name: cond for cond in found}

    # -- rule sets ---------------------------------------------------------------------------

    def validate(self, document: Any) -> dict[str, Any]:
        return validate_rule_set(
            document,
            known_types=set(self.crm.registry.activity_types),
            conditions=self.conditions(),
        )

    def current(self, conn: sa.Connection | None = None) -> tuple[int, dict[str, Any]]:
        """The active rule set ``(version, document)``: the newest version, or the default."""
        rs = tables.rule_sets
        if conn is None:
            with self.crm.connect() as own:
                return self.current(own)
        version = conn.execute(sa.select(sa.func.max(rs.c.version))).scalar()
        if version is None:
            return 0, self.validate(default_rule_set())
        if version not in self._documents:
            self._documents[version] = conn.execute(
                sa.select(rs.c.document).where(rs.c.version == version)
            ).scalar_one()
        return version, self._documents[version]

    def versions(self, actor: Actor) -> list[dict[str, Any]]:
        self.crm.permissions.require(actor, "scoring.read")
        rs = tables.rule_sets
        with self.crm.connect() as conn:
            rows = (
                conn.execute(
                    sa.select(
                        rs.c.version, rs.c.comment, rs.c.created_by, rs.c.created_at
                    ).order_by(rs.c.version.desc())
                )
                .mappings()
                .all()
            )
        return [{**r, "created_at": r["created_at"].isoformat()} for r in rows]

    def version(self, actor: Actor, version: int) -> dict[str, Any]:
        self.crm.permissions.require(actor, "scoring.read")
        if version == 0:
            return {
                "version": 0,
                "document": self.validate(default_rule_set()),
                "comment": "built-in default",
            }
        rs = tables.rule_sets
        with self.crm.connect() as conn:
            row = conn.execute(sa.select(rs).where(rs.c.version == version)).mappings().first()
        if row is None:
            raise NotFound(
                f"rule set version {version} does not exist; GET /api/scoring/rules/versions lists them"
            )
        return {"version": row["version"], "document": row["document"], "comment": row["comment"]}

    def save(
        self, actor: Actor, document: Any, *, comment: str = "", recompute: bool = True
    ) -> dict[str, Any]:
        """Store ``document`` as a new version (validated) and queue a full recompute."""
        self.crm.permissions.require(actor, "scoring.rules")
        clean = self.validate(document)
        rs = tables.rule_sets
        with self.crm.transaction(actor) as uow:
            previous = uow.conn.execute(sa.select(sa.func.max(rs.c.version))).scalar() or 0
            version = previous + 1
            uow.conn.execute(
                rs.insert().values(
                    version=version,
                    document=clean,
                    comment=str(comment)[:500],
                    created_by=actor.label,
                    created_at=utcnow(),
                )
            )
            uow.audit(
                "scoring.rules.save",
                "scoring_rule_set",
                version,
                {
                    "previous_version": previous,
                    "comment": comment,
                    "rules": [r["id"] for r in clean["rules"]],
                },
            )
            job_id = (
                self.crm.jobs.enqueue(
                    "scoring.recompute", {"reason": f"rule set {version}"}, uow=uow
                )
                if recompute
                else None
            )
        return {"version": version, "document": clean, "job_id": job_id}

    def _edit(self, actor: Actor, change: Callable[[dict[str, Any]], str]) -> dict[str, Any]:
        self.crm.permissions.require(actor, "scoring.rules")
        _, document = self.current()
        document = {**document, "rules": [dict(r) for r in document["rules"]]}
        comment = change(document)
        return self.save(actor, document, comment=comment)

    def _rule_index(self, document: Mapping[str, Any], rule_id: str) -> int:
        for index, rule in enumerate(document["rules"]):
            if rule["id"] == rule_id:
                return index
        raise NotFound(f"rule {rule_id!r} does not exist; GET /api/scoring/rules lists the rules")

    def add_rule(self, actor: Actor, rule: Any) -> dict[str, Any]:
        def change(document: dict[str, Any]) -> str:
            if not isinstance(rule, dict):
                raise ValidationError.field(
                    "body", "must be a rule object with id, type, group and points"
                )
            document["rules"].append(rule)
            return f"add rule {rule.get('id')}"

        return self._edit(actor, change)

    def update_rule(self, actor: Actor, rule_id: str, changes: Any) -> dict[str, Any]:
        def change(document: dict[str, Any]) -> str:
            if not isinstance(changes, dict):
                raise ValidationError.field(
                    "body", "must be an object with the rule's fields to change"
                )
            index = self._rule_index(document, rule_id)
            document["rules"][index] = {**document["rules"][index], **changes, "id": rule_id}
            return f"update rule {rule_id}"

        return self._edit(actor, change)

    def delete_rule(self, actor: Actor, rule_id: str) -> dict[str, Any]:
        def change(document: dict[str, Any]) -> str:
            document["rules"].pop(self._rule_index(document, rule_id))
            return f"delete rule {rule_id}"

        return self._edit(actor, change)

    # -- scoring runs ------------------------------------------------------------------------

    def _run(
        self, conn: sa.Connection, contact_filter: Any | None, now: datetime
    ) -> tuple[int, list[HotLead], int]:
        """Score the contacts of ``contact_filter`` (None = everyone) inside ``conn``'s transaction.

        1. ``INSERT INTO scoring_run SELECT <new scores>, <stored score and hot>`` (a temporary
           table: no WAL, emptied at commit), one pass over the activities;
        2. read the hot-threshold crossings from it;
        3. append history rows where the integer score changed;
        4. ``UPDATE scoring_scores ... FROM scoring_run`` only the rows whose values changed;
        5. ``INSERT ... ON CONFLICT`` the contacts that had no score yet.
        """
        if self.dialect == "postgresql":
            # the per-contact aggregation and the joins hash in memory instead of spilling;
            # no JIT: compiling this statement's expressions took 2-3.5 s, more than it saved
            conn.execute(
                sa.text(
                    "SELECT set_config('work_mem', :value, true), set_config('jit', 'off', true)"
                ),
                {"value": self.settings.work_mem},
            )
        version, document = self.current(conn)
        compiler = RuleCompiler(document, self.dialect, now, self.conditions())
        inner = compiler.score_select(contact_filter).subquery("scoring_new")
        r, s, h = tables.run_rows, tables.scores, tables.history
        implied = compiler.implied_groups()
        changed = sa.or_(
            s.c.contact_id.is_(None),
            s.c.rule_set_version != version,
            *(s.c[k] != inner.c[k] for k in SCORE_COLUMNS if k not in FLOAT_COLUMNS),
            *(_moved(s.c[k], inner.c[k]) for k in FLOAT_COLUMNS if k != "groups"),
            *(
                _moved(s.c.groups[name].as_float(), inner.c[f"g_{name}"])
                for name in compiler.groups
                if name not in implied
            ),
        )
        stored = s.c.contact_id == inner.c.contact_id
        if isinstance(contact_filter, IdRange):  # hash only the range's stored rows
            stored = sa.and_(stored, restrict(s.c.contact_id, contact_filter))
        conn.execute(sa.schema.CreateTable(r, if_not_exists=True))
        full_range = contact_filter is None or isinstance(contact_filter, IdRange)
        if self.dialect == "postgresql":
            # a range joins large sets only; the planner's estimate of the lookups' join (a few
            # hundred rows for 250,000) made it probe the stored scores 250,000 times by key.
            # A set of ids (50,000 of 500,000) is looked up by key; the planner hashed the
            # whole scores table (0.5 s), from a row count inflated by dead rows
            method = "enable_nestloop" if full_range else "enable_hashjoin"
            conn.execute(sa.text("SELECT set_config(:name, 'off', true)"), {"name": method})
        conn.execute(
            r.insert().from_select(
                ["contact_id", *SCORE_COLUMNS, "old_score", "old_hot", "changed"],
                sa.select(
                    inner.c.contact_id,
                    *(inner.c[k] for k in SCORE_COLUMNS),
                    s.c.score,
                    s.c.hot,
                    changed,
                ).select_from(inner.outerjoin(s, stored)),
            )
        )
        if self.dialect == "postgresql":
            conn.execute(sa.text("SELECT set_config(:name, 'on', true)"), {"name": method})
        # counted, not the INSERT's rowcount: psycopg reports -1 for it on some set-ups
        scored = int(conn.execute(sa.select(sa.func.count()).select_from(r)).scalar() or 0)
        crossings = [
            HotLead(row[0], row[1], row[2])
            for row in conn.execute(
                sa.select(r.c.contact_id, r.c.score, r.c.old_score)
                .where(
                    r.c.hot == sa.true(), sa.or_(r.c.old_hot.is_(None), r.c.old_hot == sa.false())
                )
                .order_by(r.c.contact_id)
            ).all()
        ]
        conn.execute(
            h.insert().from_select(
                ["contact_id", "score", "fit", "engagement", "rule_set_version", "recorded_at"],
                sa.select(
                    r.c.contact_id,
                    r.c.score,
                    r.c.fit,
                    r.c.engagement,
                    sa.literal(version),
                    sa.literal(now, h.c.recorded_at.type),
                ).where(sa.or_(r.c.old_score.is_(None), r.c.old_score != r.c.score)),
            )
        )
        hot_since = sa.case(
            (sa.and_(r.c.hot == sa.true(), s.c.hot == sa.true()), s.c.hot_since),
            (r.c.hot == sa.true(), sa.literal(now, s.c.hot_since.type)),
            else_=None,
        )
        if self.dialect == "postgresql":
            # the changed rows by key (few: an hourly run changes 10-20 %), not a hash of the
            # whole scores table, which the planner prefers from its row estimates
            conn.exec_driver_sql(
                "SELECT set_config('enable_hashjoin', 'off', true),"
                " set_config('enable_mergejoin', 'off', true)"
            )
        conn.execute(
            s.update()
            .where(s.c.contact_id == r.c.contact_id, r.c.old_score.is_not(None), r.c.changed)
            .values(
                **{k: r.c[k] for k in SCORE_COLUMNS},
                rule_set_version=version,
                computed_at=sa.literal(now, s.c.computed_at.type),
                hot_since=hot_since,
            )
        )
        if self.dialect == "postgresql":
            conn.exec_driver_sql(
                "SELECT set_config('enable_hashjoin', 'on', true),"
                " set_config('enable_mergejoin', 'on', true)"
            )
        insert = _upsert(self.dialect)(s).from_select(
            ["contact_id", *SCORE_COLUMNS, "rule_set_version", "computed_at", "hot_since"],
            sa.select(
                r.c.contact_id,
                *(r.c[k] for k in SCORE_COLUMNS),
                sa.literal(version),
                sa.literal(now, s.c.computed_at.type),
                sa.case((r.c.hot == sa.true(), sa.literal(now, s.c.hot_since.type)), else_=None),
            ).where(r.c.old_score.is_(None)),
        )
        excluded = insert.excluded
        conn.execute(
            insert.on_conflict_do_update(  # a contact scored by a concurrent run meanwhile
                index_elements=[s.c.contact_id],
                set_={
                    **{k: excluded[k] for k in SCORE_COLUMNS},
                    "rule_set_version": excluded.rule_set_version,
                    "computed_at": excluded.computed_at,
                    "hot_since": sa.case(
                        (sa.and_(excluded.hot == sa.true(), s.c.hot == sa.true()), s.c.hot_since),
                        else_=excluded.hot_since,
                    ),
                },
            )
        )
        if self.dialect != "postgresql":  # PostgreSQL empties it at commit (ON COMMIT DELETE ROWS)
            conn.execute(r.delete())
        return int(scored), crossings, version

    def rescore(self, ids: Iterable[int], *, now: datetime | None = None) -> RunResult:
        """Score the given contacts now (ids of deleted contacts are ignored)."""
        wanted = sorted(set(ids))
        if not wanted:
            return RunResult(0, (), self.current()[0])
        now = now or utcnow()
        with self.crm.begin() as conn:
            scored, crossings, version = self._run(conn, wanted, now)
        self._after_run(crossings)
        return RunResult(scored, tuple(crossings), version)

    def mark_dirty(self, ids: Iterable[int], *, conn: sa.Connection | None = None) -> int:
        rows = [{"contact_id": i, "marked_at": utcnow()} for i in sorted(set(ids))]
        if not rows:
            return 0
        d = tables.dirty
        statement = _upsert(self.dialect)(d)
        statement = statement.on_conflict_do_update(
            index_elements=[d.c.contact_id], set_={"marked_at": statement.excluded.marked_at}
        )
        if conn is not None:
            conn.execute(statement, rows)
        else:
            with self.crm.begin() as own:
                own.execute(statement, rows)
        return len(rows)

    def rescore_dirty(self, *, now: datetime | None = None) -> RunResult:
        """Score every contact marked dirty before this call, set-based.

        On PostgreSQL a large dirty set (``parallel_dirty_min``) is split by contact id into
        ``parallel`` parts scored at once, each in its own connection and transaction (one
        ``INSERT ... SELECT`` runs on one core); a part's dirty marks go with its commit.
        """
        now = now or utcnow()
        d = tables.dirty
        cutoff = utcnow()
        bounds: list[int] = []
        if self.dialect == "postgresql":
            with self.crm.begin() as conn:
                waiting = conn.execute(sa.select(sa.func.count()).select_from(d)).scalar() or 0
                if waiting > 1000:
                    # statistics of the set as it is now: without them the planner expected
                    # ~500,000 dirty rows for 50,000 and hashed the whole scores table to find
                    # their stored rows (0.5 s) instead of looking them up by key
                    conn.exec_driver_sql("ANALYZE scoring_dirty")
                workers = max(1, self.settings.parallel)
                if workers > 1 and waiting >= max(1, self.settings.parallel_dirty_min):
                    found = conn.execute(
                        sa.select(
                            *(
                                sa.func.percentile_disc(k / workers).within_group(d.c.contact_id)
                                for k in range(1, workers)
                            )
                        ).where(d.c.marked_at <= cutoff)
                    ).one()
                    bounds = sorted({int(b) for b in found if b is not None})
        edges: list[int | None] = [None, *bounds, None]
        parts = list(itertools.pairwise(edges))

        def score(low: int | None, high: int | None) -> tuple[int, list[HotLead], int]:
            where = [d.c.marked_at <= cutoff]
            if low is not None:
                where.append(d.c.contact_id >= low)
            if high is not None:
                where.append(d.c.contact_id < high)
            with self.crm.begin() as conn:
                found = self._run(conn, sa.select(d.c.contact_id).where(*where), now)
                conn.execute(d.delete().where(*where))
            return found

        return self._run_parts([lambda low=low, high=high: score(low, high) for low, high in parts], len(parts))

    def recompute_all(
        self, *, now: datetime | None = None, progress: Progress | None = None
    ) -> RunResult:
        """Score every contact, in id ranges (a few statements per range, one transaction each).

        On PostgreSQL the ranges run in ``parallel`` connections at once (at least one range
        per connection): PostgreSQL runs an ``INSERT ... SELECT`` on one core, so a single
        statement over every contact leaves the other cores idle. SQLite has one writer: its
        ranges run one after another.
        """
        now = now or utcnow()
        c = core.contacts
        with self.crm.connect() as conn:
            low, high, total = conn.execute(
                sa.select(sa.func.min(c.c.id), sa.func.max(c.c.id), sa.func.count())
            ).one()
        if not total:
            return RunResult(0, (), self.current()[0])
        settings = self.settings
        workers = max(1, settings.parallel) if self.dialect == "postgresql" else 1
        pieces = max(workers, -(-total // max(1, settings.chunk_size)))
        step = -(-(high + 1 - low) // pieces)
        # ranges of ids even when one holds everyone: the activities are then read in contact
        # order through the (contact_id, occurred_at) index on SQLite
        ranges = [
            IdRange(start, min(start + step, high + 1)) for start in range(low, high + 1, step)
        ]
        lock = threading.Lock()
        done = [0]

        def score(ids: IdRange) -> tuple[int, list[HotLead], int]:
            with self.crm.begin() as conn:
                found = self._run(conn, ids, now)
            if progress is not None:
                with lock:
                    done[0] += found[0]
                    progress(min(done[0], total), total, f"scored {done[0]} of {total} contacts")
            return found

        return self._run_parts([lambda ids=ids: score(ids) for ids in ranges], workers)

    def _run_parts(
        self, parts: Sequence[Callable[[], tuple[int, list[HotLead], int]]], workers: int
    ) -> RunResult:
        """Run the parts of a run (each its own transaction), in ``workers`` connections at
        once when more than one, then fire the hot-lead crossings of all of them."""
        if workers <= 1 or len(parts) == 1:
            results = [part() for part in parts]
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scoring") as pool:
                futures = [pool.submit(part) for part in parts]
                results = [f.result() for f in futures]
        scored = sum(n for n, _, _ in results)
        crossings = sorted(
            (lead for _, found, _ in results for lead in found), key=lambda lead: lead.contact_id
        )
        self._after_run(crossings)
        return RunResult(scored, tuple(crossings), results[-1][2])

    # -- after commit ------------------------------------------------------------------------

    def _after_run(self, crossings: Sequence[HotLead]) -> None:
        if not crossings:
            return
        settings = self.settings
        if settings.set_hot_stage:
            self._set_hot_stage([lead.contact_id for lead in crossings], settings)
        self.crm.events.call("leads_became_hot", leads=list(crossings))
        from cultiveat_core.hookcalls import implementations

        if implementations(self.crm.pm, "lead_became_hot"):
            for lead in crossings:
                self.crm.events.call(
                    "lead_became_hot",
                    contact_id=lead.contact_id,
                    score=lead.score,
                    previous_score=lead.previous_score,
                )

    def _set_hot_stage(self, ids: list[int], settings: ScoringSettings) -> None:
        c = core.contacts
        keep = list(settings.keep_stages)
        with self.crm.connect() as conn:
            targets = (
                conn.execute(
                    sa.select(c.c.id).where(
                        c.c.id.in_(ids), sa.or_(c.c.stage.is_(None), c.c.stage.not_in(keep))
                    )
                )
                .scalars()
                .all()
            )
        actor = Actor.system("scoring")
        for contact_id in targets:
            try:
                self.crm.contacts.update(actor, contact_id, {"stage": settings.hot_stage})
            except Exception:
                log.exception(
                    "could not set stage %r on hot lead %s", settings.hot_stage, contact_id
                )

    # -- reading -----------------------------------------------------------------------------

    def stored(self, conn: sa.Connection, contact_id: int) -> sa.RowMapping | None:
        s = tables.scores
        return conn.execute(sa.select(s).where(s.c.contact_id == contact_id)).mappings().first()

    def rule_points(
        self, ids: Iterable[int], *, now: datetime | None = None
    ) -> dict[int, dict[str, float]]:
        """Each contact's non-zero points per rule under the active rule set (one query)."""
        _, document = self.current()
        compiler = RuleCompiler(document, self.dialect, now or utcnow(), self.conditions())
        query, names = compiler.rule_columns(sorted(set(ids)))
        with self.crm.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return {
            r["contact_id"]: {
                n: round(float(r[f"p_{n}"]), 4) for n in names if abs(r[f"p_{n}"] or 0) > 1e-9
            }
            for r in rows
        }

    def explain(self, actor: Actor, contact_id: int) -> dict[str, Any]:
        """Fit, engagement, total and every rule that gave points, with when it fired."""
        self.crm.permissions.require(actor, "scoring.read")
        contact = self.crm.contacts.get(actor, contact_id)
        with self.crm.connect() as conn:
            row = self.stored(conn, contact_id)
        if row is None:
            self.rescore([contact_id])
            with self.crm.connect() as conn:
                row = self.stored(conn, contact_id)
        assert row is not None
        version, document = self.current()
        if row["rule_set_version"] != version:
            document = self.version(Actor.system("scoring"), row["rule_set_version"])["document"]
        now = row["computed_at"]
        compiler = RuleCompiler(document, self.dialect, now, self.conditions())
        query, _ = compiler.rule_columns([contact_id], explain=True)
        with self.crm.connect() as conn:
            values = conn.execute(query).mappings().one()
        fired = []
        for rule in document["rules"]:
            points = float(values[f"p_{rule['id']}"] or 0.0)
            if abs(points) < 1e-9:
                continue
            item: dict[str, Any] = {
                "id": rule["id"],
                "label": rule["label"],
                "group": rule["group"],
                "type": rule["type"],
                "points": round(points, 2),
            }
            if rule["type"] == "field":
                index = values[f"choice_{rule['id']}"]
                item["matched"] = rule["choices"][index]["label"] if index >= 0 else "otherwise"
                item["value"] = (
                    getattr(contact, rule["field"], None)
                    if "." not in rule["field"]
                    else contact.custom.get(rule["field"].split(".", 1)[1])
                )
            elif rule["type"] != "condition":
                item["count"] = int(values[f"n_{rule['id']}"] or 0)
                first, last = values[f"first_{rule['id']}"], values[f"last_{rule['id']}"]
                item["first_at"] = _iso(first)
                item["last_at"] = _iso(last)
                item["when"] = item["last_at"]
            fired.append(item)
        fired.sort(key=lambda r: -abs(r["points"]))
        from cultiveat_scoring.signals import signals_for

        signals = signals_for(
            self.crm, [contact_id], document, {contact_id: dict(row)}, now=utcnow()
        )
        return {
            "contact_id": contact_id,
            "score": row["score"],
            "fit": round(row["fit"], 2),
            "engagement": round(row["engagement"], 2),
            "total": round(row["total"], 2),
            "engagement_percent": row["engagement_percent"],
            "hot": bool(row["hot"]),
            "hot_since": _iso(row["hot_since"]),
            "band": row["band"],
            "groups": {k: round(float(v), 2) for k, v in (row["groups"] or {}).items()},
            "hot_lead_panel": bool(row["hot"]) or contact.stage == "Hot Lead",
            "probability": row["probability"],
            "model_version": row["model_version"],
            "rule_set_version": row["rule_set_version"],
            "computed_at": _iso(row["computed_at"]),
            "rules": fired,
            "buying_signals": signals[contact_id]["buying_signals"],
            "priority_action": signals[contact_id]["priority_action"],
        }

    def history(self, actor: Actor, contact_id: int, limit: int = 100) -> list[dict[str, Any]]:
        self.crm.permissions.require(actor, "scoring.read")
        self.crm.contacts.get(actor, contact_id)
        h = tables.history
        with self.crm.connect() as conn:
            rows = (
                conn.execute(
                    sa.select(
                        h.c.score, h.c.fit, h.c.engagement, h.c.rule_set_version, h.c.recorded_at
                    )
                    .where(h.c.contact_id == contact_id)
                    .order_by(h.c.recorded_at.desc(), h.c.id.desc())
                    .limit(max(1, min(limit, 1000)))
                )
                .mappings()
                .all()
            )
        return [
            {
                **r,
                "fit": round(r["fit"], 2),
                "engagement": round(r["engagement"], 2),
                "recorded_at": r["recorded_at"].isoformat(),
            }
            for r in rows
        ]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
