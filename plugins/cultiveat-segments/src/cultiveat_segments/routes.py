"""HTTP API under ``/api/segments`` (problem+json errors come from the core's handlers)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Response, delete, get, patch, post, put
from litestar.params import Body, Parameter

from cultiveat_core import CRM, Actor
from cultiveat_core.web.routes.bodies import MAX_ID, PathId, present, whole_numbers
from cultiveat_segments.builder_page import ROUTES as BUILDER_ROUTES
from cultiveat_segments.plugin import service
from cultiveat_segments.schemas import (
    PREFERENCES,
    DefinitionBody,
    ModelKind,
    NewSegment,
    Overrides,
    SegmentChange,
)

# an optional id filter; documented bounds (a larger number is a 422 from the database layer)
IdFilter = Annotated[int | None, Parameter(schema_extra={"minimum": 1, "maximum": MAX_ID})]


class SegmentController(Controller):
    path = "/api/segments"
    tags = ["segments"]

    @get("/", sync_to_thread=True)
    def list_segments(self, crm: CRM, actor: Actor) -> list[dict[str, Any]]:
        """Every segment: ``{id, name, description, kind, definition, member_count, status}``."""
        return service(crm).list(actor)  # type: ignore[no-any-return]

    @post("/", sync_to_thread=True)
    def create_segment(self, crm: CRM, actor: Actor, data: NewSegment) -> Response[dict[str, Any]]:
        """Create ``{"name", "definition", "description"?, "kind"?}``; members are built at once."""
        created = service(crm).create(actor, whole_numbers(present(data)))
        return Response(created, status_code=201, headers={"Location": f"/api/segments/{created['id']}"})

    @post("/validate", sync_to_thread=True, status_code=200)
    def validate_definition(self, crm: CRM, actor: Actor, data: DefinitionBody) -> dict[str, Any]:
        """``{"definition"}`` -> ``{valid, errors: [{field, message}], unavailable: [...]}``."""
        return service(crm).validate(actor, whole_numbers(present(data).get("definition")))  # type: ignore[no-any-return]

    @post("/preview", sync_to_thread=True, status_code=200)
    def preview_definition(self, crm: CRM, actor: Actor, data: DefinitionBody) -> dict[str, Any]:
        """``{"definition", "limit"?}`` -> the count and first page of an unsaved definition."""
        limit = present(data).get("limit")
        return service(crm).preview(actor, whole_numbers(present(data).get("definition")), limit)  # type: ignore[no-any-return]

    @get("/operators", sync_to_thread=True)
    def list_operators(self, crm: CRM, actor: Actor) -> dict[str, Any]:
        """Fields, operators and activity types the segment builder offers."""
        from cultiveat_segments.builder import vocabulary_for_builder

        return vocabulary_for_builder(crm, actor)

    @post("/refresh", sync_to_thread=True, status_code=200)
    def refresh_all(self, crm: CRM, actor: Actor) -> list[dict[str, Any]]:
        """Rebuild every segment now (the daily job does the same)."""
        return service(crm).refresh(actor)  # type: ignore[no-any-return]

    @get("/history", sync_to_thread=True)
    def all_history(
        self,
        crm: CRM,
        actor: Actor,
        contact_id: IdFilter = None,
        limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
        before: IdFilter = None,
    ) -> dict[str, Any]:
        """Membership changes across segments, newest first (filter by ``contact_id``)."""
        return service(crm).history(
            actor,
            None,
            contact_id=contact_id,
            limit=limit,  # type: ignore[no-any-return]
            before_id=before,
        )

    @get("/contacts/{contact_id:int}", sync_to_thread=True)
    def contact_segments(self, crm: CRM, actor: Actor, contact_id: PathId) -> list[dict[str, Any]]:
        """The contact's segments and qualification status (member, qualifies, manual override)."""
        return service(crm).contact_segments(actor, contact_id)  # type: ignore[no-any-return]

    @get("/{segment_id:int}", sync_to_thread=True)
    def get_segment(self, crm: CRM, actor: Actor, segment_id: PathId) -> dict[str, Any]:
        return service(crm).get(actor, segment_id)  # type: ignore[no-any-return]

    @patch("/{segment_id:int}", sync_to_thread=True)
    def update_segment(self, crm: CRM, actor: Actor, segment_id: PathId, data: SegmentChange) -> dict[str, Any]:
        """Change ``name``, ``description``, ``definition`` or ``kind``; members are rebuilt."""
        return service(crm).update(actor, segment_id, whole_numbers(present(data)))  # type: ignore[no-any-return]

    @delete("/{segment_id:int}", sync_to_thread=True, status_code=204)
    def delete_segment(self, crm: CRM, actor: Actor, segment_id: PathId) -> None:
        service(crm).delete(actor, segment_id)

    @post("/{segment_id:int}/refresh", sync_to_thread=True, status_code=200)
    def refresh_segment(self, crm: CRM, actor: Actor, segment_id: PathId) -> dict[str, Any]:
        return service(crm).refresh(actor, segment_id)[0]  # type: ignore[no-any-return]

    @get("/{segment_id:int}/members", sync_to_thread=True)
    def list_members(
        self,
        crm: CRM,
        actor: Actor,
        segment_id: PathId,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 50,
        after: Annotated[int | None, Parameter(description="id of the last member of the previous page")] = None,
    ) -> dict[str, Any]:
        """Members by contact id: ``{count, items: [{id, email, first_name, ...}], next_after}``."""
        return service(crm).members(actor, segment_id, limit=limit, after=after)  # type: ignore[no-any-return]

    @post("/{segment_id:int}/contacts", sync_to_thread=True, status_code=200)
    def add_contacts(self, crm: CRM, actor: Actor, segment_id: PathId, data: Overrides) -> dict[str, Any]:
        """``{"contact_ids": [...], "mode": "include"|"exclude"}``: manual overrides of the rule."""
        return service(crm).set_overrides(  # type: ignore[no-any-return]
            actor, segment_id, data.contact_ids, data.mode
        )

    @delete("/{segment_id:int}/contacts/{contact_id:int}", sync_to_thread=True, status_code=200)
    def clear_override(self, crm: CRM, actor: Actor, segment_id: PathId, contact_id: PathId) -> dict[str, Any]:
        """Remove a manual addition or exclusion; the rule decides again."""
        return service(crm).clear_override(actor, segment_id, contact_id)  # type: ignore[no-any-return]

    @get("/{segment_id:int}/history", sync_to_thread=True)
    def segment_history(
        self,
        crm: CRM,
        actor: Actor,
        segment_id: PathId,
        contact_id: IdFilter = None,
        limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
        before: IdFilter = None,
    ) -> dict[str, Any]:
        """When contacts entered or left this segment, newest first."""
        return service(crm).history(
            actor,
            segment_id,
            contact_id=contact_id,  # type: ignore[no-any-return]
            limit=limit,
            before_id=before,
        )

    @get("/{segment_id:int}/monitoring", sync_to_thread=True)
    def segment_monitoring(
        self,
        crm: CRM,
        actor: Actor,
        segment_id: PathId,
        days: Annotated[int, Parameter(ge=1, le=3650)] = 90,
    ) -> dict[str, Any]:
        """Size over time, entries and exits per day, stability, drift and campaign engagement."""
        from cultiveat_segments.monitoring import segment_monitoring

        return segment_monitoring(crm, actor, segment_id, days=days)

    @get("/monitoring", sync_to_thread=True)
    def monitoring_overview(self, crm: CRM, actor: Actor) -> dict[str, Any]:
        """Every segment's latest size, entries/exits, stability and drift alerts."""
        from cultiveat_segments.monitoring import overview

        return overview(crm, actor)

    @get("/monitoring/export", sync_to_thread=True)
    def monitoring_export(
        self,
        crm: CRM,
        actor: Actor,
        format: Annotated[str, Parameter(pattern="^(csv|xlsx)$")] = "csv",
    ) -> Response[bytes]:
        """The monitoring snapshots of every segment as CSV or XLSX."""
        from cultiveat_segments.monitoring import export

        content, media_type, filename = export(crm, actor, format)
        return Response(
            content,
            media_type=media_type,
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    # -- preferences ---------------------------------------------------------------------

    @get("/preferences/{contact_id:int}", sync_to_thread=True)
    def get_preferences(self, crm: CRM, actor: Actor, contact_id: PathId) -> dict[str, Any]:
        """``{interests, preferred_channel, frequency, topics, sources}`` (explicit or inferred)."""
        from cultiveat_segments.preferences import get_preferences

        return get_preferences(crm, actor, contact_id)

    @put("/preferences/{contact_id:int}", sync_to_thread=True)
    def put_preferences(
        self,
        crm: CRM,
        actor: Actor,
        contact_id: PathId,
        data: Annotated[dict[str, Any], Body(description="preferences", schema_extra=PREFERENCES)],
    ) -> dict[str, Any]:
        """Set any of interests, preferred_channel, frequency, topics (they stop being inferred).
        The service checks every field, unknown ones included, and names each problem in one
        422 (``preferences.clean``)."""
        from cultiveat_segments.preferences import set_preferences

        return set_preferences(crm, actor, contact_id, data)

    @post("/preferences/infer", sync_to_thread=True, status_code=202)
    def infer_preferences(self, crm: CRM, actor: Actor) -> dict[str, Any]:
        """Queue inference of preferences from activities; poll ``/api/jobs/{id}``."""
        from cultiveat_segments.permissions import PREFERENCES

        crm.permissions.require(actor, PREFERENCES)
        return {"job_id": crm.jobs.enqueue("segments.infer_preferences", {}, actor=actor)}

    # -- ML models -------------------------------------------------------------------------

    @post("/models/train", sync_to_thread=True, status_code=202)
    def train_model(self, crm: CRM, actor: Actor, data: ModelKind | None = None) -> dict[str, Any]:
        """``{"kind": "behaviour"|"preference"}`` -> a training job; poll ``/api/jobs/{id}``."""
        from cultiveat_segments.ml.runs import enqueue

        return {"job_id": enqueue(crm, actor, "segments.train", (data or ModelKind()).kind)}

    @post("/models/score", sync_to_thread=True, status_code=202)
    def score_model(self, crm: CRM, actor: Actor, data: ModelKind | None = None) -> dict[str, Any]:
        """Re-assign contacts with the latest model of ``kind`` (a job)."""
        from cultiveat_segments.ml.runs import enqueue

        return {"job_id": enqueue(crm, actor, "segments.score", (data or ModelKind()).kind)}

    @get("/models", sync_to_thread=True)
    def list_models(
        self, crm: CRM, actor: Actor, kind: Literal["behaviour", "preference"] | None = None
    ) -> list[dict[str, Any]]:
        """Model runs, newest first, each with its model card."""
        from cultiveat_segments.ml.runs import list_runs

        return list_runs(crm, actor, kind)

    @get("/models/{run_id:int}", sync_to_thread=True)
    def get_model(self, crm: CRM, actor: Actor, run_id: PathId) -> dict[str, Any]:
        from cultiveat_segments.ml.runs import get_run

        return get_run(crm, actor, run_id)


ROUTES = [SegmentController, *BUILDER_ROUTES]
