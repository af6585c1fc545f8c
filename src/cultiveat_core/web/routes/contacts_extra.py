"""Tags, companies, custom fields, bulk activities and imports over HTTP."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from typing import Annotated, Any

import sqlalchemy as sa
from litestar import Request, Response, delete, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter

from cultiveat_core.crm import CRM
from cultiveat_core.db import tables
from cultiveat_core.domain import Actor
from cultiveat_core.errors import NotFound, ValidationError
from cultiveat_core.web.routes.bodies import PathId, present
from cultiveat_core.web.routes.schemas import BulkActivities, NewCustomField, TagRename

MAX_UPLOAD = 512 * 1024 * 1024


@get("/api/tags", sync_to_thread=True, tags=["tags"])
def autocomplete_tags(
    crm: CRM,
    actor: Actor,
    prefix: Annotated[str, Parameter(max_length=30)] = "",
    limit: Annotated[int, Parameter(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """Tags starting with ``prefix``, most used first, then predefined suggestions."""
    return {"items": crm.contacts.tags.autocomplete(actor, prefix, limit)}


@post("/api/tags/rename", sync_to_thread=True, status_code=200, tags=["tags"])
def rename_tag(crm: CRM, actor: Actor, data: TagRename) -> dict[str, Any]:
    """``{"name", "new_name"}``; renaming to an existing tag merges the two."""
    return crm.contacts.tags.rename(actor, data.name, data.new_name)


@delete("/api/tags/{name:str}", sync_to_thread=True, status_code=200, tags=["tags"])
def delete_tag(crm: CRM, actor: Actor, name: str) -> dict[str, Any]:
    return {"name": name, "contacts": crm.contacts.tags.delete(actor, name)}


@get("/api/companies", sync_to_thread=True, tags=["companies"])
def list_companies(
    crm: CRM,
    actor: Actor,
    q: Annotated[str, Parameter(max_length=200)] = "",
    limit: Annotated[int, Parameter(ge=1, le=200)] = 20,
) -> dict[str, Any]:
    """Companies whose name starts with (or contains) ``q``, for the company filter's search box."""
    crm.permissions.require(actor, "contacts.read")
    co = tables.companies
    key = " ".join(q.lower().split()).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    prefix = co.c.name_key.like(f"{key}%", escape="\\")
    query = (
        sa.select(co)
        .where(sa.or_(prefix, co.c.name_key.like(f"%{key}%", escape="\\")))
        .order_by(prefix.desc(), co.c.name_key)
        .limit(limit)
    )
    with crm.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return {"items": [_company(r) for r in rows]}


@get("/api/companies/{company_id:int}", sync_to_thread=True, tags=["companies"])
def get_company(crm: CRM, actor: Actor, company_id: PathId) -> dict[str, Any]:
    """A company with how many contacts work there."""
    crm.permissions.require(actor, "contacts.read")
    co, c = tables.companies, tables.contacts
    with crm.engine.connect() as conn:
        row = conn.execute(sa.select(co).where(co.c.id == company_id)).mappings().first()
        if row is None:
            raise NotFound(f"company {company_id} does not exist")
        count = conn.execute(
            sa.select(sa.func.count()).select_from(c).where(c.c.company_id == company_id)
        ).scalar()
    return {**_company(row), "contacts": count}


def _company(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "domain": row["domain"],
        "industry": row["industry"],
        "size": row["size"],
        "created_at": row["created_at"].isoformat(),
    }


@get("/api/custom-fields", sync_to_thread=True, tags=["contacts"])
def list_custom_fields(crm: CRM, actor: Actor) -> dict[str, Any]:
    crm.permissions.require(actor, "contacts.read")
    return {"items": [f.as_dict() for f in crm.contacts.custom_fields.all().values()]}


@post("/api/custom-fields", sync_to_thread=True, tags=["contacts"])
def define_custom_field(crm: CRM, actor: Actor, data: NewCustomField) -> Response[dict[str, Any]]:
    """``{"name", "label", "type": text|number|date|bool|choice, "choices"?, "required"?}``."""
    field = crm.contacts.custom_fields.define(
        actor,
        data.name,
        data.label,
        data.type,
        choices=data.choices or [],
        required=data.required,
    )
    return Response(field.as_dict(), status_code=201)


@delete("/api/custom-fields/{name:str}", sync_to_thread=True, status_code=204, tags=["contacts"])
def remove_custom_field(crm: CRM, actor: Actor, name: str) -> None:
    crm.contacts.custom_fields.remove(actor, name)


@post("/api/activities/bulk", sync_to_thread=True, tags=["activities"])
def log_activities(crm: CRM, actor: Actor, data: BulkActivities) -> Response[dict[str, Any]]:
    """``{"items": [{"contact_id", "type", "occurred_at"?, "data"?}]}`` (≤5000), one transaction."""
    logged = crm.activities.log_many(actor, present(data)["items"])
    return Response({"count": len(logged), "ids": [a.id for a in logged]}, status_code=201)


@dataclass
class ImportForm:
    """The upload form: the CSV (or XLSX) ``file`` and how to read it."""

    file: UploadFile
    source: str | None = None
    on_duplicate: str | None = None
    dry_run: str | None = None
    mapping: Any = None  # JSON text, as a form field or a file part


@post(
    "/api/imports",
    sync_to_thread=True,
    tags=["imports"],
    status_code=202,
    request_max_body_size=MAX_UPLOAD,
)
def start_import(
    crm: CRM,
    actor: Actor,
    request: Request[Any, Any, Any],
    data: Annotated[ImportForm, Body(media_type=RequestEncodingType.MULTI_PART)],
) -> Response[dict[str, Any]]:
    """Multipart upload: ``file`` plus optional ``source``, ``on_duplicate``, ``dry_run``,
    ``mapping`` (JSON). Answers 202 with the import; poll ``GET /api/imports/{id}``."""
    from cultiveat_core.importing import ImportOptions
    from cultiveat_core.importing.service import start_upload

    upload = data.file
    if not isinstance(upload, UploadFile):
        raise ValidationError.field("file", "send the CSV as the multipart field `file`")
    mapping = data.mapping
    if isinstance(mapping, UploadFile):
        mapping = mapping.file.read().decode("utf-8", errors="replace")
    try:
        mapping_data = json.loads(mapping) if mapping else None
    except ValueError:
        raise ValidationError.field("mapping", 'must be JSON: {"Column header": "field"}') from None
    options = ImportOptions(
        source=str(data.source or "auto"),
        mapping=mapping_data,
        on_duplicate=str(data.on_duplicate or "skip"),
        dry_run=str(data.dry_run or "").lower() in ("1", "true", "yes"),
    )
    with tempfile.TemporaryFile() as spool:
        while chunk := upload.file.read(1 << 20):
            spool.write(chunk)
        spool.seek(0)
        status = start_upload(crm, actor, upload.filename or "upload.csv", spool, options)
    return Response(status, status_code=202, headers={"Location": f"/api/imports/{status['id']}"})


@get("/api/imports/{import_id:str}", sync_to_thread=True, tags=["imports"])
def get_import_status(crm: CRM, actor: Actor, import_id: str) -> dict[str, Any]:
    """Status, progress and result (created, updated, skipped, errors) of an import."""
    from cultiveat_core.importing.service import get_import

    return get_import(crm, actor, import_id)


CONTACT_EXTRA_ROUTES = [
    autocomplete_tags,
    rename_tag,
    delete_tag,
    list_companies,
    get_company,
    list_custom_fields,
    define_custom_field,
    remove_custom_field,
    log_activities,
    start_import,
    get_import_status,
]
