"""Imports over HTTP and from the CLI: the ``core_imports`` record, the stored file, the job."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any

import sqlalchemy as sa

from cultiveat_core.db import tables
from cultiveat_core.db.metadata import utcnow
from cultiveat_core.domain import Actor
from cultiveat_core.errors import NotFound, PermissionDenied
from cultiveat_core.importing.runner import ImportOptions, ImportResult, prepare, run_import
from cultiveat_core.jobs import JobContext

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

imp = tables.imports
chunks = tables.import_chunks
CHUNK = 1 << 20
TASK = "core.import_contacts"


def create_record(
    crm: CRM,
    actor: Actor,
    filename: str,
    size: int,
    options: ImportOptions,
    status: str = "running",
) -> str:
    import_id = str(uuid.uuid4())
    now = utcnow()
    with crm.begin() as conn:
        conn.execute(
            imp.insert().values(
                id=import_id,
                status=status,
                filename=filename[:300],
                size=size,
                options=options.as_dict(),
                errors=[],
                created_by=actor.user_id,
                created_at=now,
                updated_at=now,
            )
        )
    return import_id


def finish_record(
    crm: CRM, import_id: str, result: ImportResult | None, *, failure: str | None = None
) -> None:
    values: dict[str, Any] = {
        "status": "failed" if failure else "done",
        "failure": failure,
        "updated_at": utcnow(),
    }
    if result is not None:
        values.update(
            created=result.created,
            updated=result.updated,
            skipped=result.skipped,
            errors=result.errors,
            error_count=result.error_count,
            rows_done=result.rows,
            source=result.source,
        )
    with crm.begin() as conn:
        conn.execute(imp.update().where(imp.c.id == import_id).values(**values))
        if failure is None:
            conn.execute(chunks.delete().where(chunks.c.import_id == import_id))


def resume_state(crm: CRM, import_id: str) -> tuple[ImportOptions, ImportResult, int]:
    """Options, counts so far and last committed row of an import, to carry on after a crash."""
    with crm.engine.connect() as conn:
        row = conn.execute(sa.select(imp).where(imp.c.id == import_id)).mappings().first()
    if row is None:
        raise NotFound(f"import {import_id} does not exist")
    opts = row["options"] or {}
    options = ImportOptions(
        source=opts.get("source", "auto"),
        mapping=opts.get("mapping"),
        on_duplicate=opts.get("on_duplicate", "skip"),
        dry_run=bool(opts.get("dry_run")),
    )
    result = ImportResult(
        created=row["created"],
        updated=row["updated"],
        skipped=row["skipped"],
        errors=list(row["errors"] or []),
        error_count=row["error_count"],
    )
    return options, result, int(row["rows_done"])


def start_upload(
    crm: CRM, actor: Actor, filename: str, upload: IO[bytes], options: ImportOptions
) -> dict[str, Any]:
    """Check the file (a file-level problem is a 422 now), store it, queue the job: 202."""
    crm.permissions.require(actor, "contacts.import")
    upload.seek(0, 2)
    size = upload.tell()
    upload.seek(0)
    prepare(crm, upload, options)
    upload.seek(0)
    import_id = str(uuid.uuid4())
    now = utcnow()
    with crm.transaction(actor) as work:
        work.conn.execute(
            imp.insert().values(
                id=import_id,
                status="queued",
                filename=filename[:300],
                size=size,
                options=options.as_dict(),
                errors=[],
                created_by=actor.user_id,
                created_at=now,
                updated_at=now,
            )
        )
        seq = 0
        while data := upload.read(CHUNK):
            work.conn.execute(chunks.insert().values(import_id=import_id, seq=seq, data=data))
            seq += 1
        job_id = crm.jobs.enqueue(TASK, {"import_id": import_id}, uow=work)
        work.conn.execute(imp.update().where(imp.c.id == import_id).values(job_id=job_id))
        work.audit(
            "import.start",
            "import",
            import_id,
            {"filename": filename, "size": size, **options.as_dict()},
        )
    return get_import(crm, actor, import_id)


def import_job(ctx: JobContext, import_id: str) -> dict[str, Any]:
    """The job behind ``POST /api/imports``: resumes after the last committed batch on a retry."""
    crm = ctx.crm
    options, result, done = resume_state(crm, import_id)
    with crm.begin() as conn:
        conn.execute(
            imp.update().where(imp.c.id == import_id).values(status="running", updated_at=utcnow())
        )
        size = conn.execute(sa.select(imp.c.size).where(imp.c.id == import_id)).scalar_one()
    with tempfile.TemporaryFile() as spool:
        with crm.engine.connect() as conn:
            for (data,) in conn.execution_options(stream_results=True, yield_per=4).execute(
                sa.select(chunks.c.data)
                .where(chunks.c.import_id == import_id)
                .order_by(chunks.c.seq)
            ):
                spool.write(data)
        spool.seek(0)

        def progress(read: int, total: int, rows: int) -> None:
            ctx.progress(read, total, f"{rows} rows read")

        try:
            result = run_import(
                crm,
                ctx.actor,
                spool,
                size=size,
                options=options,
                import_id=import_id,
                resume=result,
                resume_after=done,
                progress=progress,
            )
        except PermissionDenied as exc:
            finish_record(crm, import_id, None, failure=exc.message)
            raise
        except Exception as exc:
            with crm.begin() as conn:  # a retry resumes; the status says what happened meanwhile
                conn.execute(
                    imp.update()
                    .where(imp.c.id == import_id)
                    .values(status="failed", failure=str(exc)[:2000], updated_at=utcnow())
                )
            raise
    finish_record(crm, import_id, result)
    return result.as_dict()


def get_import(crm: CRM, actor: Actor, import_id: str) -> dict[str, Any]:
    """An import's status, progress and (when done) result; its creator or ``jobs.read``."""
    crm.permissions.require(actor, "contacts.import")
    with crm.engine.connect() as conn:
        row = conn.execute(sa.select(imp).where(imp.c.id == import_id)).mappings().first()
    if row is None:
        raise NotFound(f"import {import_id} does not exist")
    if row["created_by"] != actor.user_id and not actor.can("jobs.read"):
        raise PermissionDenied("this import was started by another user", permission="jobs.read")
    job: Mapping[str, Any] | None = None
    if row["job_id"]:
        try:
            job = crm.jobs.get(row["job_id"]).as_dict()
        except NotFound:
            job = None
    progress = None
    if job is not None:
        progress = {
            "done": job["progress_done"],
            "total": job["progress_total"],
            "percent": job["percent"],
            "message": job["progress_message"],
            "job_status": job["status"],
        }
    return {
        "id": row["id"],
        "status": row["status"],
        "filename": row["filename"],
        "size": row["size"],
        "options": row["options"],
        "source": row["source"],
        "rows_done": row["rows_done"],
        "created": row["created"],
        "updated": row["updated"],
        "skipped": row["skipped"],
        "errors": row["errors"],
        "error_count": row["error_count"],
        "failure": row["failure"],
        "job_id": row["job_id"],
        "progress": progress,
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }
