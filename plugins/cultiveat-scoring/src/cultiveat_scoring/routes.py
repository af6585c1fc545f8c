"""``/api/scoring/...``: rules CRUD, explanations, history, work-next, model card, jobs."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Response, delete, get, patch, post, put
from litestar.params import Body, Parameter

from cultiveat_core.crm import CRM
from cultiveat_core.domain import Actor
from cultiveat_core.errors import ValidationError
from cultiveat_core.web.routes.bodies import MAX_ID, PathId
from cultiveat_scoring.signals import work_next


def _scoring(crm: CRM) -> Any:
    return crm.extensions["scoring"]


def _object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValidationError.field("body", "must be a JSON object")
    return data


# Rule-set documents and rules are JSON objects checked by ``rules/validation.py`` (422 naming
# the path, e.g. rules[2].group); the schema states that they are objects and their keys.
# 0 is the built-in default rule set
Version = Annotated[int, Parameter(ge=0, le=MAX_ID, schema_extra={"minimum": 0})]
RULE_KEYS = (
    "id, label, group (a declared group), type (field, activity, activity_count, condition), "
    "points; field rules: field, choices [{label, op, values|value, points}], otherwise; "
    "activity rules: activity_types, where [{property, op, value}], repeat, cap, decay; "
    "activity_count rules: activity_types, min_count, window_days; condition rules: "
    "condition, params"
)
RuleSet = Annotated[
    dict[str, Any],
    Body(
        description='{"document": {...}, "comment": "..."} or the bare document: name, '
        "total_cap, engagement_ceiling, decay {mode, half_life_days|window_days}, "
        "hot_threshold, bands [{name, min}], groups [{name, part, cap, in_total}], rules "
        "[...], signals {...} (GET /api/scoring/rules shows the active one)"
    ),
]
Rule = Annotated[dict[str, Any], Body(description="a rule: " + RULE_KEYS)]
RuleChange = Annotated[dict[str, Any], Body(description="the rule's fields to change")]


class ScoringController(Controller):
    path = "/api/scoring"
    tags = ["scoring"]

    # -- rules -----------------------------------------------------------------------------

    @get("/rules", sync_to_thread=True)
    def get_rules(self, crm: CRM, actor: Actor) -> dict[str, Any]:
        """The active rule set and its version (0 = the built-in default, never edited)."""
        crm.permissions.require(actor, "scoring.read")
        version, document = _scoring(crm).service.current()
        return {"version": version, "document": document}

    @put("/rules", sync_to_thread=True)
    def put_rules(self, crm: CRM, actor: Actor, data: RuleSet) -> Response[dict[str, Any]]:
        """Replace the rule set: ``{"document": {...}, "comment": "..."}`` or the bare document."""
        body = _object(data)
        document, comment = (body["document"], str(body.get("comment", ""))) if "document" in body else (body, "")
        saved = _scoring(crm).service.save(actor, document, comment=comment)
        return Response(saved, status_code=200)

    @post("/rules/validate", sync_to_thread=True, status_code=200)
    def validate_rules(self, crm: CRM, actor: Actor, data: RuleSet) -> dict[str, Any]:
        """Check a rule set without saving it: 200 with the normalised document, or 422."""
        crm.permissions.require(actor, "scoring.rules")
        return {"valid": True, "document": _scoring(crm).service.validate(_object(data))}

    @get("/rules/versions", sync_to_thread=True)
    def list_versions(self, crm: CRM, actor: Actor) -> dict[str, Any]:
        return {"items": _scoring(crm).service.versions(actor)}

    @get("/rules/versions/{version:int}", sync_to_thread=True)
    def get_version(self, crm: CRM, actor: Actor, version: Version) -> dict[str, Any]:
        return dict(_scoring(crm).service.version(actor, version))

    @post("/rules/versions/{version:int}/restore", sync_to_thread=True, status_code=200)
    def restore_version(self, crm: CRM, actor: Actor, version: Version) -> dict[str, Any]:
        """Make an older version active again (stored as a new version)."""
        service = _scoring(crm).service
        old = service.version(actor, version)
        return dict(service.save(actor, old["document"], comment=f"restore version {version}"))

    @post("/rules/items", sync_to_thread=True, status_code=201)
    def add_rule(self, crm: CRM, actor: Actor, data: Rule) -> dict[str, Any]:
        return dict(_scoring(crm).service.add_rule(actor, _object(data)))

    @patch("/rules/items/{rule_id:str}", sync_to_thread=True)
    def update_rule(self, crm: CRM, actor: Actor, rule_id: str, data: RuleChange) -> dict[str, Any]:
        return dict(_scoring(crm).service.update_rule(actor, rule_id, _object(data)))

    @delete("/rules/items/{rule_id:str}", sync_to_thread=True, status_code=200)
    def delete_rule(self, crm: CRM, actor: Actor, rule_id: str) -> dict[str, Any]:
        return dict(_scoring(crm).service.delete_rule(actor, rule_id))

    @get("/conditions", sync_to_thread=True)
    def list_conditions(self, crm: CRM, actor: Actor) -> dict[str, Any]:
        """Conditions usable in ``condition`` rules (the plugin's and other plugins')."""
        crm.permissions.require(actor, "scoring.read")
        return {
            "items": [
                {"name": c.name, "description": c.description, "params": dict(c.params)}
                for c in _scoring(crm).service.conditions().values()
            ]
        }

    # -- contacts ----------------------------------------------------------------------------

    @get("/contacts/{contact_id:int}", sync_to_thread=True)
    def explain(self, crm: CRM, actor: Actor, contact_id: PathId) -> dict[str, Any]:
        """Why a contact has its score: fit, engagement, total, engagement %, hot, fired rules."""
        return dict(_scoring(crm).service.explain(actor, contact_id))

    @get("/contacts/{contact_id:int}/history", sync_to_thread=True)
    def history(
        self,
        crm: CRM,
        actor: Actor,
        contact_id: PathId,
        limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        return {"items": _scoring(crm).service.history(actor, contact_id, limit)}

    @get("/work-next", sync_to_thread=True)
    def work_next_list(
        self,
        crm: CRM,
        actor: Actor,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 20,
        mine: bool = False,
    ) -> dict[str, Any]:
        """Contacts ranked by the urgency of their priority action, then by score."""
        crm.permissions.require(actor, "scoring.read")
        _, document = _scoring(crm).service.current()
        owner = actor.user_id if mine else None
        return {"items": work_next(crm, document, limit=limit, owner_id=owner)}

    # -- jobs and model ----------------------------------------------------------------------

    @post("/recompute", sync_to_thread=True, status_code=202)
    def recompute(self, crm: CRM, actor: Actor) -> dict[str, Any]:
        """Queue a full recompute; follow it at ``GET /api/jobs/{job_id}`` (progress in %)."""
        crm.permissions.require(actor, "scoring.recompute")
        job_id = crm.jobs.enqueue("scoring.recompute", {"reason": "api"}, actor=actor)
        return {"job_id": job_id, "status_url": f"/api/jobs/{job_id}"}

    @get("/model", sync_to_thread=True)
    def model_card(self, crm: CRM, actor: Actor) -> dict[str, Any]:
        """The newest model's card: ROC AUC, top-decile precision, calibration, importances."""
        return dict(_scoring(crm).model.card(actor))

    @post("/model/train", sync_to_thread=True, status_code=202)
    def train(self, crm: CRM, actor: Actor) -> dict[str, Any]:
        crm.permissions.require(actor, "scoring.train")
        job_id = crm.jobs.enqueue("scoring.train", {}, actor=actor)
        return {"job_id": job_id, "status_url": f"/api/jobs/{job_id}"}
