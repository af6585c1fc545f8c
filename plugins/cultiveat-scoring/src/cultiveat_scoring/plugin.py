"""The scoring plugin's hook implementations (entry point ``scoring``).

Scores are kept current by the core's batch events: a transaction that touched up to
``inline_limit`` contacts has them rescored right after its commit (within the event
dispatch, so a new activity shows in the score at once); a bigger batch marks them dirty and
queues ``scoring.rescore_dirty``, which the embedded runner or a Celery worker picks up.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from cultiveat_core.domain import ContactField, Kpi, Permission
from cultiveat_core.markers import hookimpl
from cultiveat_scoring import hookspecs, tables
from cultiveat_scoring.conditions import BUILTIN_CONDITIONS
from cultiveat_scoring.model import PredictiveModel
from cultiveat_scoring.service import ScoringService
from cultiveat_scoring.settings import ScoringSettings

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

__all__ = ["hookspecs", "scoring_for"]

ALL_ROLES = ("marketing", "sales", "executive")
PERMISSIONS = [
    Permission(
        "scoring.read",
        "See scores, explanations, buying signals, work-next and the model card",
        ALL_ROLES,
    ),
    Permission("scoring.rules", "Edit the lead-scoring rules", ("marketing",)),
    Permission("scoring.recompute", "Start a full rescoring of every contact", ("marketing",)),
    Permission("scoring.train", "Train the predictive conversion model", ("marketing",)),
]


@attrs.define
class Scoring:
    """What the plugin keeps in ``crm.extensions["scoring"]``."""

    service: ScoringService
    model: PredictiveModel


def scoring_for(crm: CRM) -> Scoring:
    if "scoring" not in crm.extensions:
        crm.extensions["scoring"] = Scoring(ScoringService(crm), PredictiveModel(crm))
    scoring = crm.extensions["scoring"]
    assert isinstance(scoring, Scoring)
    return scoring


# -- registration ---------------------------------------------------------------------------


@hookimpl
def register_settings(crm: CRM) -> list[type]:
    scoring_for(crm)
    return [ScoringSettings]


@hookimpl
def register_migrations() -> list[str]:
    return [str(Path(__file__).parent / "migrations" / "versions")]


@hookimpl
def register_routes() -> list[Any]:
    from cultiveat_scoring.routes import ScoringController

    return [ScoringController]


@hookimpl
def register_permissions() -> list[Permission]:
    return list(PERMISSIONS)


@hookimpl
def register_commands() -> list[Any]:
    from cultiveat_scoring.cli import scoring_group

    return [scoring_group]


@hookimpl
def register_tasks() -> list[Any]:
    from cultiveat_scoring.tasks import TASKS

    return list(TASKS)


@hookimpl
def register_periodic_tasks(crm: CRM) -> list[Any]:
    from cultiveat_scoring.tasks import periodic_tasks

    return periodic_tasks(crm.plugin_settings(ScoringSettings))


@hookimpl
def register_ui() -> list[Any]:
    from cultiveat_scoring.ui import contributions

    return contributions()


@hookimpl
def register_score_conditions() -> list[Any]:
    return list(BUILTIN_CONDITIONS)


def _stored(column: str) -> Any:
    s = tables.scores

    def expression(contacts: Any) -> Any:
        return sa.select(s.c[column]).where(s.c.contact_id == contacts.c.id).scalar_subquery()

    return expression


@hookimpl
def register_contact_fields() -> list[ContactField]:
    return [
        ContactField(
            name="score",
            label="Score",
            expression=_stored("score"),
            type="number",
            permission="scoring.read",
            description="Lead score 0-100 (fit + engagement, capped)",
        ),
        ContactField(
            name="engagement_percent",
            label="Engagement %",
            expression=_stored("engagement_percent"),
            type="number",
            permission="scoring.read",
            description="Engagement as a percentage of the rule set's engagement ceiling",
        ),
        ContactField(
            name="fit",
            label="Fit score",
            expression=_stored("fit"),
            type="number",
            permission="scoring.read",
            description="Fit points: role and industry",
        ),
        ContactField(
            name="hot",
            label="Hot lead",
            expression=_stored("hot"),
            type="bool",
            permission="scoring.read",
            description="Score at or above the hot threshold (90)",
        ),
    ]


def _hot_leads(crm: CRM, conn: sa.Connection, **_: Any) -> int:
    s = tables.scores
    return int(conn.execute(sa.select(sa.func.count()).where(s.c.hot == sa.true())).scalar() or 0)


def _average_score(crm: CRM, conn: sa.Connection, **_: Any) -> int | None:
    s = tables.scores
    value = conn.execute(sa.select(sa.func.avg(s.c.score))).scalar()
    return None if value is None else round(float(value))


@hookimpl
def register_kpis() -> list[Kpi]:
    return [
        Kpi(
            name="hot_leads",
            label="Hot Leads",
            compute=_hot_leads,
            permission="scoring.read",
            order=20,
        ),
        Kpi(
            name="average_score",
            label="Avg. Score",
            compute=_average_score,
            permission="scoring.read",
            order=30,
        ),
    ]


# -- keeping scores current -----------------------------------------------------------------


def rescore_touched(crm: CRM, ids: Iterable[int]) -> None:
    """Rescore a small batch now; mark a big one dirty and let a job do it."""
    wanted = set(ids)
    if not wanted:
        return
    scoring = scoring_for(crm)
    if len(wanted) <= crm.plugin_settings(ScoringSettings).inline_limit:
        scoring.service.rescore(wanted)
        return
    with crm.begin() as conn:
        scoring.service.mark_dirty(wanted, conn=conn)
    crm.jobs.enqueue("scoring.rescore_dirty", {})


@hookimpl
def activities_logged(crm: CRM, activities: list[Any]) -> None:
    rescore_touched(crm, (a.contact_id for a in activities))


@hookimpl
def contacts_created(crm: CRM, contacts: list[Any]) -> None:
    rescore_touched(crm, (c.id for c in contacts))


@hookimpl
def contacts_updated(crm: CRM, changes: list[Any]) -> None:
    rescore_touched(crm, (change.contact.id for change in changes))


@hookimpl
def contacts_merged(crm: CRM, kept: Any) -> None:
    rescore_touched(crm, [kept.id])


# -- privacy --------------------------------------------------------------------------------


@hookimpl(optionalhook=True)
def contact_data_for_subject_access(crm: CRM, contact: Any) -> dict[str, Any] | None:
    """The contact's stored score and its score history (the explanation derives from them)."""
    s, h = tables.scores, tables.history
    with crm.connect() as conn:
        score = conn.execute(sa.select(s).where(s.c.contact_id == contact.id)).mappings().first()
        history = (
            conn.execute(
                sa.select(h.c.score, h.c.fit, h.c.engagement, h.c.rule_set_version, h.c.recorded_at)
                .where(h.c.contact_id == contact.id)
                .order_by(h.c.recorded_at)
            )
            .mappings()
            .all()
        )
    if score is None and not history:
        return None

    def plain(row: Any) -> dict[str, Any]:
        return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in dict(row).items()}

    return {"score": plain(score) if score else None, "history": [plain(r) for r in history]}


@hookimpl(optionalhook=True)
def erase_contact_data(crm: CRM, contact: Any) -> None:
    """Delete the contact's score, history and dirty mark (idempotent)."""
    with crm.begin() as conn:
        for table in (tables.scores, tables.history, tables.dirty):
            conn.execute(table.delete().where(table.c.contact_id == contact.id))
