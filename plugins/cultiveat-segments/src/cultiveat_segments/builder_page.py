"""The segment builder page (``/segments/builder``): a visual editor that works without JavaScript.

Server-rendered rows (groups with AND/OR and NOT, conditions with subject, operator and
value); "+ Condition", "+ Group" and "Remove" are submit buttons, so the page works as a
plain form. ``builder.js`` (served at ``/segments/builder.js``, no third-party code) enhances
it: structural buttons and subject changes re-render just the rows, and every edit asks
``/segments/builder/preview`` for the live count, the first page of members and the
validation errors, shown next to the failing row. The JSON editor stays as an "Advanced"
section. Signed-in users (session cookie + the session's CSRF token) and API tokens work.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import sqlalchemy as sa
from litestar import Request, Response, get, post
from litestar.response import Redirect
from markupsafe import Markup

from cultiveat_core import CRM, CultiveatError, FieldError
from cultiveat_segments import builder_form as bf
from cultiveat_segments import catalog, tables
from cultiveat_segments.builder import vocabulary_for_builder
from cultiveat_segments.definitions import PREFERENCE_LISTS, PREFERENCE_TEXT, PURCHASE_METRICS
from cultiveat_segments.permissions import MANAGE, READ

SCRIPT = (Path(__file__).parent / "static" / "builder.js").read_text(encoding="utf-8")
STYLE = (Path(__file__).parent / "static" / "builder.css").read_text(encoding="utf-8")
PAGE_SIZE = 20
HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "frame-ancestors 'none'; form-action 'self'",
}


class Context:
    """Everything one request renders from: the actor, the vocabulary and the form state."""

    def __init__(self, crm: CRM, actor: Any, csrf: str) -> None:
        from cultiveat_segments.plugin import service

        self.crm, self.actor, self.csrf = crm, actor, csrf
        self.svc = service(crm)
        vocab = vocabulary_for_builder(crm, actor)
        self.fields = vocab["fields"]
        self.activity_types: list[str] = vocab["activity_types"]
        self.operators = {
            kind: [(o["name"], o["label"]) for o in ops] for kind, ops in vocab["operators"].items()
        }
        arity = {o["name"]: o["value"] for ops in vocab["operators"].values() for o in ops}
        with crm.engine.connect() as conn:
            custom_types = catalog.custom_types(crm, conn)
            s = tables.segments
            self.segments = [
                dict(r) for r in conn.execute(sa.select(s.c.id, s.c.name).order_by(s.c.name)).mappings()
            ]
        self.vocab = bf.Vocab(
            field_types={f["name"]: f["type"] for f in self.fields},
            custom_types=custom_types,
            arity=arity,
        )
        self.can_manage = actor.can(MANAGE)


def _csrf(crm: CRM, request: Request[Any, Any, Any]) -> str:
    from cultiveat_core.services.sessions import SESSION_COOKIE

    sessions = getattr(crm, "sessions", None)
    session = sessions.resolve(request.cookies.get(SESSION_COOKIE)) if sessions is not None else None
    return session.csrf_token if session is not None else ""


def _context(crm: CRM, request: Request[Any, Any, Any]) -> Context | Response[str]:
    actor = crm.pm.hook.actor_from_request(crm=crm, request=request)
    if actor is None:
        return Redirect("/login?next=/segments/builder")  # type: ignore[return-value]
    if not actor.can(READ):
        return _html(
            "<!doctype html><title>Not allowed</title><p>You need the segments.read permission "
            "to open the segment builder.</p>",
            403,
        )
    return Context(crm, actor, _csrf(crm, request))


def _html(body: str, status: int = 200) -> Response[str]:
    return Response(body, status_code=status, media_type="text/html", headers=HEADERS)


# -- rendering ------------------------------------------------------------------------------


def _options(choices: list[tuple[str, str]], selected: str) -> Markup:
    return Markup("").join(
        Markup('<option value="{}"{}>{}</option>').format(v, Markup(" selected") if v == selected else "", label)
        for v, label in choices
    )


def _subject_choices(ctx: Context, row: bf.Row) -> Markup:
    groups: list[tuple[str, list[tuple[str, str]]]] = [
        ("Contact fields", [(f"field:{f['name']}", f.get("label") or f["name"]) for f in ctx.fields]),
        ("Custom field, tags", [("custom", "custom field…"), ("tags", "tags")]),
        ("Activity", [(f"activity:{t}", f"activity: {t}") for t in ctx.activity_types]),
        ("Purchases", [(f"purchase:{m}", f"purchase: {m}") for m in PURCHASE_METRICS]),
        ("Preferences", [(f"preference:{p}", f"preference: {p}") for p in (*PREFERENCE_TEXT, *PREFERENCE_LISTS)]),
        ("Member of segment", [(f"segment:{s['id']}", f"segment: {s['name']}") for s in ctx.segments]),
    ]
    known = {v for _, choices in groups for v, _ in choices}
    extra = Markup("")
    if row.subject not in known:  # e.g. several activity types, or a field no longer offered
        extra = Markup('<option value="{0}" selected>{0}</option>').format(row.subject)
    return extra + Markup("").join(
        Markup('<optgroup label="{}">{}</optgroup>').format(label, _options(choices, row.subject))
        for label, choices in groups
    )


def _row_errors(row: bf.Row, errors: dict[str, list[str]]) -> Markup:
    messages = errors.get(row.id, [])
    return Markup('<p class="row-error" id="err-{}" role="alert"{}>{}</p>').format(
        row.id, Markup("") if messages else Markup(" hidden"), "; ".join(messages)
    )


def _button(action: str, label: str, aria: str) -> Markup:
    return Markup(
        '<button type="submit" name="action" value="{}" class="structural" aria-label="{}">{}</button>'
    ).format(action, aria, label)


def render_rows(ctx: Context, root: bf.Row, errors: dict[str, list[str]]) -> Markup:
    def row_html(row: bf.Row, parent: bf.Row | None, depth: int) -> Markup:
        hidden = Markup(
            '<input type="hidden" name="rows" value="{id}">'
            '<input type="hidden" name="{id}.parent" value="{parent}">'
            '<input type="hidden" name="{id}.kind" value="{kind}">'
        ).format(id=row.id, parent=parent.id if parent else "", kind=row.kind)
        if row.kind == "group":
            children = Markup("").join(row_html(c, row, depth + 1) for c in row.children)
            remove = _button(f"remove:{row.id}", "Remove group", "remove this group") if parent else ""
            return Markup(
                '<fieldset class="group depth-{depth}" data-row="{id}" aria-invalid="{invalid}">{hidden}'
                '<legend><label>{negate_box} NOT</label> '
                '<label class="sr-only" for="{id}-combine">combine</label>'
                '<select id="{id}-combine" name="{id}.combine">{combine}</select> of these:</legend>'
                "{error}<div class=\"children\">{children}</div>"
                '<div class="group-actions">{add} {group} {remove}</div></fieldset>'
            ).format(
                depth=min(depth, 4),
                id=row.id,
                invalid="true" if errors.get(row.id) else "false",
                hidden=hidden,
                negate_box=Markup('<input type="checkbox" name="{}.negate" value="1"{}>').format(
                    row.id, Markup(" checked") if row.negate else ""
                ),
                combine=_options([("all", "ALL (AND)"), ("any", "ANY (OR)")], row.combine),
                error=_row_errors(row, errors),
                children=children or Markup('<p class="empty">No conditions yet: everyone matches.</p>'),
                add=_button(f"add:{row.id}", "+ Condition", "add a condition to this group"),
                group=_button(f"group:{row.id}", "+ Group", "add a group inside this group"),
                remove=remove,
            )
        family = bf.subject_type(row.subject, ctx.vocab.field_types, ctx.vocab.custom_types, row.key)
        ops = bf.operator_choices(family, ctx.operators)
        op = row.op if row.op in {v for v, _ in ops} else (ops[0][0] if ops else "")
        arity = ctx.vocab.arity.get(op, "one")
        wants_value = not (
            family == "segment" or (family == "activity" and op == "never") or (family not in (
                "tags", "activity", "purchase", "list") and arity == "none")
        )
        placeholder = {
            "list": "a, b, c", "pair": "low, high", "days": "days",
        }.get(arity, "value")
        if family == "tags":
            placeholder = "Enterprise, CEO"
        elif family == "activity":
            placeholder = "2, 5" if op == "between" else "times"
        key = (
            Markup(
                '<label class="sr-only" for="{id}-key">custom field key</label>'
                '<input id="{id}-key" name="{id}.key" value="{key}" placeholder="custom key" size="10">'
            ).format(id=row.id, key=row.key)
            if row.subject == "custom"
            else Markup("")
        )
        value = (
            Markup(
                '<label class="sr-only" for="{id}-value">value</label>'
                '<input id="{id}-value" name="{id}.value" value="{value}" placeholder="{ph}" size="14">'
            ).format(id=row.id, value=row.value, ph=placeholder)
            if wants_value
            else Markup("")
        )
        within = (
            Markup(
                '<label for="{id}-within">in the last</label> '
                '<input id="{id}-within" name="{id}.within" value="{within}" size="4" inputmode="numeric"> days'
            ).format(id=row.id, within=row.within)
            if family in ("activity", "purchase")
            else Markup("")
        )
        return Markup(
            '<div class="cond" data-row="{id}" aria-invalid="{invalid}">{hidden}'
            '<label class="sr-only" for="{id}-subject">what</label>'
            '<select id="{id}-subject" name="{id}.subject" class="subject">{subjects}</select> {key}'
            '<label class="sr-only" for="{id}-op">operator</label>'
            '<select id="{id}-op" name="{id}.op">{ops}</select> {value} {within} {remove}{error}</div>'
        ).format(
            id=row.id,
            invalid="true" if errors.get(row.id) else "false",
            hidden=hidden,
            subjects=_subject_choices(ctx, row),
            key=key,
            ops=_options(ops, op),
            value=value,
            within=within,
            remove=_button(f"remove:{row.id}", "Remove", "remove this condition"),
            error=_row_errors(row, errors),
        )

    return row_html(root, None, 0)


def render_preview(preview: dict[str, Any] | None) -> Markup:
    if preview is None:
        return Markup('<p class="muted">Preview shows how many contacts match and the first of them.</p>')
    rows = Markup("").join(
        Markup("<tr><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td></tr>").format(
            m["id"], m.get("first_name") or "", m.get("last_name") or "", m.get("email") or "", m.get("company") or ""
        )
        for m in preview["members"]
    )
    return Markup(
        '<p class="count"><strong>{count}</strong> contact{s} match</p>'
        '<table><caption class="sr-only">First matching contacts</caption><thead><tr><th>id</th><th>name</th>'
        "<th>email</th><th>company</th></tr></thead><tbody>{rows}</tbody></table>"
    ).format(count=preview["count"], s="" if preview["count"] == 1 else "s", rows=rows)


def render_page(
    ctx: Context,
    state: dict[str, Any],
    root: bf.Row,
    errors: dict[str, list[str]],
    *,
    preview: dict[str, Any] | None = None,
    message: str = "",
    json_text: str | None = None,
    json_errors: list[str] | None = None,
    form_errors: dict[str, str] | None = None,
) -> str:
    built = bf.to_definition(root, ctx.vocab)
    form_errors = form_errors or {}
    json_value = json_text if json_text is not None else json.dumps(built.definition, indent=2)
    existing = _options(
        [("", "New segment")] + [(str(s["id"]), s["name"]) for s in ctx.segments], str(state.get("segment_id") or "")
    )
    body = Markup(
        '<header><a href="/">← Cultiveat</a> <h1>Segment builder</h1>'
        '<form method="get" action="/segments/builder" class="open"><label for="open-segment">Edit</label> '
        '<select id="open-segment" name="segment">{existing}</select> <button type="submit">Open</button></form>'
        "</header>"
        '<p class="message" role="status">{message}</p>'
        '<form id="builder" method="post" action="/segments/builder" novalidate>'
        '<input type="hidden" name="_csrf" value="{csrf}">'
        '<input type="hidden" name="segment_id" value="{segment_id}">'
        '<div class="meta"><label for="seg-name">Name</label> '
        '<input id="seg-name" name="name" value="{name}" maxlength="120"{name_invalid}> {name_error}'
        '<label for="seg-description">Description</label> '
        '<input id="seg-description" name="description" value="{description}" maxlength="500" size="40"></div>'
        '<div id="rows">{rows}</div>'
        '<div class="actions"><button type="submit" name="action" value="preview">Preview</button> '
        '<button type="submit" name="action" value="refresh">Update fields</button> '
        "{save}</div>"
        '<section id="preview" aria-live="polite">{preview}</section>'
        '<details id="advanced"{open}><summary>Advanced: edit as JSON</summary>'
        '<label for="definition-json">Definition (JSON; see <a href="/api/segments/operators">fields and '
        "operators</a>)</label>"
        '<textarea id="definition-json" name="definition" rows="14" spellcheck="false">{json}</textarea>'
        '<p class="row-error" id="json-error" role="alert"{json_hidden}>{json_errors}</p>'
        '<button type="submit" name="action" value="json">Apply JSON</button></details>'
        "</form>"
        '<script src="/segments/builder.js" defer></script>'
    ).format(
        existing=existing,
        message=message,
        csrf=ctx.csrf,
        segment_id=state.get("segment_id") or "",
        name=state.get("name", ""),
        name_invalid=Markup(' aria-invalid="true" aria-describedby="name-error"') if "name" in form_errors else "",
        name_error=Markup('<span class="row-error" id="name-error">{}</span>').format(form_errors["name"])
        if "name" in form_errors
        else "",
        description=state.get("description", ""),
        rows=render_rows(ctx, root, errors),
        save=Markup('<button type="submit" name="action" value="save" class="primary">Save segment</button>')
        if ctx.can_manage
        else Markup('<span class="muted">You can preview; saving needs segments.manage.</span>'),
        preview=render_preview(preview),
        open=Markup(" open") if json_errors else "",
        json=json_value,
        json_hidden="" if json_errors else Markup(" hidden"),
        json_errors="; ".join(json_errors or []),
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>Segment builder - Cultiveat</title><style>{STYLE}</style></head><body>{body}</body></html>"
    )


# -- evaluation -----------------------------------------------------------------------------


def errors_by_row(built: bf.Built, errors: list[dict[str, str]]) -> dict[str, list[str]]:
    """Each error goes to the row whose JSON path is the longest prefix of the error's path."""
    found: dict[str, list[str]] = {}
    for error in errors:
        path = "$" + error["field"][len("definition"):] if error["field"].startswith("definition") else "$"
        best, best_len = None, -1
        for row_id, row_path in built.paths.items():
            if (path == row_path or path.startswith(row_path + ".") or path.startswith(row_path + "[")) and len(
                row_path
            ) > best_len:
                best, best_len = row_id, len(row_path)
        found.setdefault(best or "r0", []).append(error["message"])
    return found


def evaluate(
    ctx: Context, built: bf.Built, *, with_preview: bool
) -> tuple[dict[str, list[str]], dict[str, Any] | None]:
    checked = ctx.svc.validate(ctx.actor, built.definition)
    problems = checked["errors"] + checked["unavailable"]
    if problems or not with_preview:
        return errors_by_row(built, problems), None
    try:
        return {}, ctx.svc.preview(ctx.actor, built.definition, PAGE_SIZE)
    except CultiveatError as exc:
        return errors_by_row(built, _field_errors(exc)), None


def _field_errors(exc: CultiveatError) -> list[dict[str, str]]:
    errors = getattr(exc, "errors", None) or [FieldError("definition", exc.message)]
    return [e.as_dict() for e in errors]


def _state(form: Any) -> dict[str, Any]:
    segment = bf._one(form, "segment_id")
    return {
        "segment_id": int(segment) if segment.isdigit() else None,
        "name": bf._one(form, "name")[:120],
        "description": bf._one(form, "description")[:500],
    }


def handle_post(ctx: Context, form: Any, fragment: bool) -> Response[str] | Response[Any]:
    state = _state(form)
    action = bf._one(form, "action") or "preview"
    root = bf.parse_form(form)
    if action.partition(":")[0] in ("add", "group", "remove"):
        root = bf.apply_action(root, action)
    if action == "json":
        text = bf._one(form, "definition")
        try:
            definition = json.loads(text)
        except ValueError as exc:
            return _html(render_page(ctx, state, root, {}, json_text=text, json_errors=[f"not valid JSON: {exc}"]), 422)
        checked = ctx.svc.validate(ctx.actor, definition)
        problems = checked["errors"] + checked["unavailable"]
        try:
            root = bf.from_definition(definition)
        except bf.NotVisual as exc:
            problems = problems or [{"field": "definition", "message": str(exc)}]
        if problems:
            messages = [f"{p['field']}: {p['message']}" for p in problems]
            return _html(render_page(ctx, state, root, {}, json_text=text, json_errors=messages), 422)
        action = "preview"
    if fragment:
        return _html(str(render_rows(ctx, root, {})))
    built = bf.to_definition(root, ctx.vocab)
    if action == "save":
        return _save(ctx, state, root, built)
    if action == "preview":
        errors, preview = evaluate(ctx, built, with_preview=True)
        return _html(render_page(ctx, state, root, errors, preview=preview), 422 if errors else 200)
    return _html(render_page(ctx, state, root, {}))


def _save(ctx: Context, state: dict[str, Any], root: bf.Row, built: bf.Built) -> Response[Any]:
    body = {"name": state["name"], "description": state["description"], "definition": built.definition}
    try:
        if state["segment_id"] is not None:
            saved = ctx.svc.update(ctx.actor, state["segment_id"], body)
        else:
            saved = ctx.svc.create(ctx.actor, body)
    except CultiveatError as exc:
        problems = getattr(exc, "errors", None) or []
        definition_problems = [e.as_dict() for e in problems if e.field.startswith("definition")]
        form_errors = {e.field: e.message for e in problems if not e.field.startswith("definition")}
        message = "" if problems else exc.message
        if any(f != "name" for f in form_errors):
            message = "; ".join(f"{f}: {m}" for f, m in form_errors.items() if f != "name")
        return _html(
            render_page(
                ctx, state, root, errors_by_row(built, definition_problems), message=message, form_errors=form_errors
            ),
            exc.status if 400 <= exc.status < 500 else 422,
        )
    return Redirect(f"/segments/builder?segment={saved['id']}&saved=1")  # type: ignore[return-value]


# -- routes ---------------------------------------------------------------------------------


@get("/segments/builder", include_in_schema=False, sync_to_thread=True)
def builder_page(crm: CRM, request: Request[Any, Any, Any], segment: int | None = None, saved: int = 0) -> Any:
    ctx = _context(crm, request)
    if not isinstance(ctx, Context):
        return ctx
    state: dict[str, Any] = {"segment_id": None, "name": "", "description": ""}
    root = bf.new_group()
    root.children.append(bf.Row("r1", subject="field:company_size", op=">", value="100"))
    message = ""
    if segment is not None:
        try:
            found = ctx.svc.get(ctx.actor, segment)
        except CultiveatError as exc:
            return _html(render_page(ctx, state, root, {}, message=exc.message), exc.status)
        state = {"segment_id": found["id"], "name": found["name"], "description": found.get("description") or ""}
        if found.get("kind") != "dynamic":
            message = f"{found['name']} is a {found.get('kind')} segment; it has no rule to edit."
            root = bf.new_group()
        else:
            try:
                root = bf.from_definition(found["definition"])
            except bf.NotVisual:
                root = bf.new_group()
                message = "This definition cannot be shown as rows; edit it under Advanced."
        if saved:
            message = f"Saved {found['name']}: {found.get('member_count', 0)} members."
    return _html(render_page(ctx, state, root, {}, message=message))


@post("/segments/builder", include_in_schema=False, status_code=200)
async def builder_submit(crm: CRM, request: Request[Any, Any, Any]) -> Any:
    form = await request.form()
    fragment = request.headers.get("x-builder-fragment") == "rows"

    def run() -> Any:
        ctx = _context(crm, request)
        if not isinstance(ctx, Context):
            return ctx
        return handle_post(ctx, form, fragment)

    return await anyio.to_thread.run_sync(run)


@post("/segments/builder/preview", include_in_schema=False, status_code=200)
async def builder_preview(crm: CRM, request: Request[Any, Any, Any]) -> Any:
    """The live preview of the form's rows: ``{definition, count, members, errors: [{row, message}]}``."""
    form = await request.form()

    def run() -> Any:
        ctx = _context(crm, request)
        if not isinstance(ctx, Context):
            return Response({"detail": "sign in again"}, status_code=401, headers=HEADERS)
        built = bf.to_definition(bf.parse_form(form), ctx.vocab)
        errors, preview = evaluate(ctx, built, with_preview=True)
        body = {
            "definition": built.definition,
            "errors": [{"row": row, "message": m} for row, messages in errors.items() for m in messages],
            "count": preview["count"] if preview else None,
            "members": preview["members"] if preview else [],
            "html": str(render_preview(preview)) if preview else "",
        }
        return Response(body, status_code=422 if errors else 200, headers=HEADERS)

    return await anyio.to_thread.run_sync(run)


@get("/segments/builder.js", include_in_schema=False, sync_to_thread=False)
def builder_script() -> Response[str]:
    return Response(SCRIPT, media_type="text/javascript", headers={"Cache-Control": "max-age=300"})


ROUTES = [builder_page, builder_submit, builder_preview, builder_script]
