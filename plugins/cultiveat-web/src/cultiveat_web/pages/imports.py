"""``/imports/new``: the import wizard on the core's import service and its jobs.

Steps: upload (the file is checked at once: encoding, header, required columns), mapping
(each column's target, with the first rows as they will be read), dry run (the whole file
validated by the import job without writing), progress, and the result with the row
errors as a downloadable CSV. Every page works without JavaScript; the progress page
refreshes itself while the job runs.
"""

from __future__ import annotations

import csv
import io
import itertools
from typing import Any

from litestar import Response

from cultiveat_core.errors import ValidationError
from cultiveat_core.importing import ON_DUPLICATE, SOURCES, ImportOptions
from cultiveat_core.importing.mappers import ADDRESS_TARGETS, IGNORE, SCALAR_TARGETS, SOCIAL_TARGETS
from cultiveat_core.importing.runner import prepare
from cultiveat_core.importing.service import get_import, start_upload
from cultiveat_web import uploads
from cultiveat_web.pages.contacts import safe_cell
from cultiveat_web.routing import MAX_FORM_BYTES, PageRequest, page_route, redirect

PREVIEW_ROWS = 5
TARGETS = (IGNORE, *SCALAR_TARGETS, *ADDRESS_TARGETS, *SOCIAL_TARGETS)
STEPS = ("Upload", "Mapping", "Dry run", "Import", "Result")


def _options(upload: uploads.Upload, *, dry_run: bool) -> ImportOptions:
    opts = upload.options
    return ImportOptions(
        source=str(opts.get("source") or "auto"),
        mapping=opts.get("mapping") or None,
        on_duplicate=str(opts.get("on_duplicate") or "skip"),
        dry_run=dry_run,
    )


def _upload_page(req: PageRequest, *, error: str | None = None, status: int = 200) -> Response[Any]:
    return req.render(
        "imports/upload.html",
        status=status,
        title="Import contacts",
        steps=STEPS,
        step=0,
        error=error,
        sources=SOURCES,
        duplicates=ON_DUPLICATE,
        max_mb=MAX_FORM_BYTES >> 20,
    )


@page_route("/imports/new", methods=("GET", "POST"))
def upload_step(req: PageRequest) -> Response[Any]:
    req.crm.permissions.require(req.actor, "contacts.import")
    if req.request.method == "GET":
        return _upload_page(req)
    upload = req.form.get("file")
    if upload is None or not hasattr(upload, "file") or not getattr(upload, "filename", ""):
        return _upload_page(req, error="Choose a CSV file to upload.", status=422)
    data = upload.file.read()
    options = {
        "source": req.param("source") or "auto",
        "on_duplicate": req.param("on_duplicate") or "skip",
    }
    try:
        prepare(
            req.crm,
            io.BytesIO(data),
            ImportOptions(source=options["source"], on_duplicate=options["on_duplicate"]),
        )
    except ValidationError as exc:
        return _upload_page(req, error=exc.message, status=422)
    upload_id = uploads.store(req.crm, req.actor, upload.filename, data, options)
    return redirect(f"/imports/new/{upload_id}/mapping")


def _mapping_preview(req: PageRequest, upload: uploads.Upload) -> dict[str, Any]:
    source, mapper, columns, ignored = prepare(
        req.crm, io.BytesIO(upload.data), _options(upload, dry_run=True)
    )
    rows = [record.cells for record in itertools.islice(source.rows, PREVIEW_ROWS)]
    return {
        "headers": source.headers,
        "columns": columns,
        "rows": rows,
        "detected": mapper.name,
        "ignored": ignored,
    }


@page_route("/imports/new/{upload_id:str}/mapping", methods=("GET", "POST"))
def mapping_step(req: PageRequest, upload_id: str) -> Response[Any]:
    req.crm.permissions.require(req.actor, "contacts.import")
    upload = uploads.load(req.crm, req.actor, upload_id)
    error = None
    if req.request.method == "POST":
        headers = _mapping_preview(req, upload)["headers"]
        mapping = {h: req.param(f"map_{i}") or IGNORE for i, h in enumerate(headers)}
        bad = [t for t in mapping.values() if t not in TARGETS]
        if bad:
            error = f"unknown targets {bad}; choose from the lists"
        else:
            candidate = {**upload.options, "mapping": mapping}
            try:
                prepare(
                    req.crm,
                    io.BytesIO(upload.data),
                    ImportOptions(
                        source=str(candidate.get("source") or "auto"),
                        mapping=mapping,
                        on_duplicate=str(candidate.get("on_duplicate") or "skip"),
                    ),
                )
            except ValidationError as exc:
                error = exc.message
            else:
                uploads.update_options(req.crm, upload_id, candidate)
                status = start_upload(
                    req.crm,
                    req.actor,
                    upload.filename,
                    io.BytesIO(upload.data),
                    _options(uploads.load(req.crm, req.actor, upload_id), dry_run=True),
                )
                return redirect(f"/imports/{status['id']}?upload={upload_id}")
    try:
        preview = _mapping_preview(req, upload)
    except ValidationError as exc:
        return _upload_page(req, error=exc.message, status=422)
    return req.render(
        "imports/mapping.html",
        status=422 if error else 200,
        title="Map the columns",
        steps=STEPS,
        step=1,
        upload=upload,
        targets=TARGETS,
        error=error,
        **preview,
    )


@page_route("/imports/new/{upload_id:str}/run", methods=("POST",))
def run_step(req: PageRequest, upload_id: str) -> Response[Any]:
    """After a dry run: queue the real import and forget the staged file."""
    upload = uploads.load(req.crm, req.actor, upload_id)
    status = start_upload(
        req.crm,
        req.actor,
        upload.filename,
        io.BytesIO(upload.data),
        _options(upload, dry_run=False),
    )
    uploads.discard(req.crm, upload_id)
    return redirect(f"/imports/{status['id']}")


@page_route("/imports/{import_id:str}")
def import_status(req: PageRequest, import_id: str) -> Response[Any]:
    status = get_import(req.crm, req.actor, import_id)
    dry_run = bool((status.get("options") or {}).get("dry_run"))
    finished = status["status"] in ("done", "failed")
    step = 2 if dry_run else (4 if finished else 3)
    return req.render(
        "imports/status.html",
        title="Import",
        steps=STEPS,
        step=step,
        imp=status,
        dry_run=dry_run,
        finished=finished,
        upload_id=req.param("upload"),
    )


@page_route("/imports/{import_id:str}/errors.csv")
def import_errors(req: PageRequest, import_id: str) -> Response[Any]:
    """The row errors as CSV (row, column, message), cells escaped against formulas."""
    status = get_import(req.crm, req.actor, import_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["row", "column", "message"])
    for error in status["errors"]:
        writer.writerow(
            [
                safe_cell(error.get("row")),
                safe_cell(error.get("column")),
                safe_cell(error.get("message")),
            ]
        )
    response: Response[Any] = Response(
        buffer.getvalue(), status_code=200, media_type="text/csv; charset=utf-8"
    )
    response.headers["Content-Disposition"] = (
        f'attachment; filename="import-{import_id[:8]}-errors.csv"'
    )
    return response


ROUTES = [upload_step, mapping_step, run_step, import_status, import_errors]
