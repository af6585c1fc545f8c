"""Server-rendered dialogs for the web UI (signed-in users, session cookie + CSRF):

``/campaigns/contacts/{id}/email`` is the send-email dialog of the contact page (seed 003):
pick a template (grouped by category), see the preview for this contact (required before
sending), edit the subject, send. Sending is a job.

``/campaigns/bulk`` is the dialog behind the contacts list's bulk actions "Send Email" and
"Add to Campaign" (``BulkAction``s): the list posts the selected ``contact_ids``; the page
asks for a template (then shows the preview for the first selected contact and which merge
fields are empty for how many of them, then sends: a campaign with those contacts, sent by
jobs) or for a campaign to add them to.
"""

from __future__ import annotations

from html import escape
from typing import Annotated, Any

import anyio.to_thread
from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect

from cultiveat_campaigns import library, service
from cultiveat_core import CRM, CultiveatError, ValidationError

STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:56rem;margin:2rem auto;padding:0 1rem}"
    "label{display:block;margin:.6rem 0 .2rem}"
    "iframe{width:100%;height:22rem;border:1px solid #d1d5db}"
    ".error{color:#b91c1c}.note{color:#374151}"
)


def _session_csrf(crm: CRM, request: Request[Any, Any, Any]) -> str:
    from cultiveat_core.services.sessions import SESSION_COOKIE

    sessions = getattr(crm, "sessions", None)
    session = (
        sessions.resolve(request.cookies.get(SESSION_COOKIE)) if sessions is not None else None
    )
    return session.csrf_token if session is not None else ""


def _page(title: str, body: str, status: int = 200) -> Response[str]:
    html = (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return Response(
        html, status_code=status, media_type="text/html", headers={"Cache-Control": "no-store"}
    )


def _actor(crm: CRM, request: Request[Any, Any, Any]) -> Any:
    return crm.pm.hook.actor_from_request(crm=crm, request=request)


def _template_options(crm: CRM, actor: Any, selected: int | None) -> str:
    groups: dict[str, list[str]] = {}
    for t in library.list_all(crm, actor):
        mark = " selected" if t["id"] == selected else ""
        groups.setdefault(t["category"], []).append(
            f"<option value='{t['id']}'{mark}>{escape(t['name'])}</option>"
        )
    return "".join(
        f"<optgroup label='{escape(cat)}'>{''.join(opts)}</optgroup>"
        for cat, opts in groups.items()
    )


@get("/campaigns/contacts/{contact_id:int}/email", include_in_schema=False, sync_to_thread=True)
def email_dialog(
    crm: CRM,
    request: Request[Any, Any, Any],
    contact_id: int,
    template_id: int | None = None,
    subject: str | None = None,
    sent: str | None = None,
) -> Any:
    actor = _actor(crm, request)
    if actor is None:
        return Redirect(f"/login?next=/campaigns/contacts/{contact_id}/email")
    try:
        contact = crm.contacts.get(actor, contact_id)
        options = _template_options(crm, actor, template_id)
        preview = None
        if template_id is not None:
            overrides = {"subject": subject} if subject else None
            preview = library.preview(crm, actor, template_id, contact_id, overrides=overrides)
    except CultiveatError as exc:
        return _page("Email", f"<p class='error'>{escape(exc.message)}</p>")
    csrf = _session_csrf(crm, request)
    parts = [
        f"<p class='note'>To {escape(contact.first_name)} {escape(contact.last_name)} "
        f"&lt;{escape(contact.email)}&gt;</p>"
    ]
    if sent:
        parts.append("<p class='note' role='status'>Queued: the email is on its way.</p>")
    parts.append(
        "<form method='get'><label for='t'>Template</label>"
        f"<select id='t' name='template_id'>{options}"
        "</select> <button>Preview</button></form>"
    )
    if preview is not None:
        empty = ", ".join(preview["empty_fields"]) or "none"
        shown = preview["html"] or "<pre>" + escape(preview["text"]) + "</pre>"
        parts.append(
            f"<form method='get'><input type='hidden' name='template_id' value='{template_id}'>"
            f"<label for='s'>Subject</label><input id='s' name='subject' size='70' "
            f"value='{escape(preview['subject'])}'> <button>Update preview</button></form>"
            f"<p class='note'>Empty merge fields for this contact: {escape(empty)}</p>"
            f"<iframe sandbox title='Preview' srcdoc='{escape(shown)}'>"
            "</iframe>"
            f"<form method='post' action='/campaigns/contacts/{contact_id}/email'>"
            f"<input type='hidden' name='_csrf' value='{escape(csrf)}'>"
            f"<input type='hidden' name='template_id' value='{template_id}'>"
            f"<input type='hidden' name='subject' value='{escape(subject or '')}'>"
            "<button>Send</button></form>"
        )
    return _page("Send email", "".join(parts))


@post("/campaigns/contacts/{contact_id:int}/email", include_in_schema=False, sync_to_thread=True)
def email_send(
    crm: CRM,
    request: Request[Any, Any, Any],
    contact_id: int,
    data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Any:
    actor = _actor(crm, request)
    if actor is None:
        return Redirect("/login")
    if "authorization" not in request.headers:
        expected = _session_csrf(crm, request)
        if not expected or data.get("_csrf") != expected:
            return Response("CSRF token missing or wrong", status_code=403, media_type="text/plain")
    try:
        template_id = int(data.get("template_id", ""))
        subject = str(data.get("subject") or "")
        service.send_one(
            crm, actor, template_id, contact_id, {"subject": subject} if subject else None
        )
    except (ValueError, CultiveatError) as exc:
        message = exc.message if isinstance(exc, CultiveatError) else "choose a template"
        return _page(
            "Send email",
            f"<p class='error'>{escape(message)}</p>"
            f"<a href='/campaigns/contacts/{contact_id}/email'>Back</a>",
            exc.status if isinstance(exc, CultiveatError) else 400,  # a refusal is a 403
        )
    return Redirect(f"/campaigns/contacts/{contact_id}/email?template_id={template_id}&sent=1")


MAX_BULK = 10_000  # contacts one bulk dialog takes (a larger audience: a segment or a filter)
OPEN_STATUSES = ("Draft", "Scheduled", "Active")


def _selected_ids(values: list[str]) -> list[int]:
    try:
        ids = sorted({int(v) for v in values})
    except ValueError:
        raise ValidationError.field("contact_ids", "contact ids must be numbers") from None
    if not ids or ids[0] <= 0:
        raise ValidationError.field(
            "contact_ids", "select at least one contact in the list, then choose the action"
        )
    if len(ids) > MAX_BULK:
        raise ValidationError.field(
            "contact_ids",
            f"at most {MAX_BULK} contacts at once; use a segment or a filter audience",
        )
    return ids


def _hidden(name: str, value: Any) -> str:
    return f"<input type='hidden' name='{name}' value='{escape(str(value))}'>"


def _bulk_form(csrf: str, ids: list[int], action: str, step: str, inner: str, button: str) -> str:
    hidden = "".join(_hidden("contact_ids", i) for i in ids)
    return (
        "<form method='post' action='/campaigns/bulk'>"
        f"{_hidden('_csrf', csrf)}{_hidden('bulk', action)}{_hidden('step', step)}{hidden}"
        f"{inner}<button>{escape(button)}</button></form>"
    )


def _bulk_step(crm: CRM, actor: Any, csrf: str, form: dict[str, str], ids: list[int]) -> str:
    """The dialog's HTML for one step (raises CultiveatError with what to fix)."""
    action = form.get("bulk") or "send_email"
    step = form.get("step") or "choose"
    count = f"{len(ids)} selected contact{'' if len(ids) == 1 else 's'}"
    back = "<p><a href='/contacts'>Back to the contacts</a></p>"
    if action == "add_to_campaign":
        if step == "add":
            try:
                campaign_id = int(form.get("campaign_id", ""))
            except ValueError:
                raise ValidationError.field("campaign_id", "choose a campaign") from None
            done = service.assign_contacts(crm, actor, campaign_id, ids, method="bulk")
            name = service.get(crm, actor, campaign_id)["name"]
            return (
                f"<p class='note' role='status'>Added {done['added']} contact(s) to "
                f"{escape(name)}; {done['already']} were already in it.</p>{back}"
            )
        open_ones = [
            c for c in service.list_all(crm, actor) if c["status"] in OPEN_STATUSES
        ]
        if not open_ones:
            return f"<p class='note'>No Draft, Scheduled or Active campaign to add to.</p>{back}"
        options = "".join(
            f"<option value='{c['id']}'>{escape(c['name'])} ({escape(c['status'])})</option>"
            for c in open_ones
        )
        inner = (
            f"<p class='note'>{count}</p><label for='c'>Campaign</label>"
            f"<select id='c' name='campaign_id'>{options}</select> "
        )
        return _bulk_form(csrf, ids, action, "add", inner, "Add to campaign") + back
    if action != "send_email":
        raise ValidationError.field("bulk", "unknown action: use send_email or add_to_campaign")
    template_id = None
    if step in ("preview", "send"):
        try:
            template_id = int(form.get("template_id", ""))
        except ValueError:
            raise ValidationError.field("template_id", "choose a template") from None
    name = (form.get("name") or "").strip() or f"Email to {count}"
    if step == "send":
        campaign = service.create(
            crm,
            actor,
            {"name": name, "template_id": template_id, "audience": {"contact_ids": ids}},
        )
        sent = service.send(crm, actor, campaign["id"])
        return (
            f"<p class='note' role='status'>Queued: campaign {escape(campaign['name'])} "
            f"({escape(sent['status'])}) sends to {count} through jobs.</p>{back}"
        )
    inner = (
        f"<p class='note'>{count}</p><label for='t'>Template</label>"
        f"<select id='t' name='template_id'>{_template_options(crm, actor, template_id)}</select>"
        f"<label for='n'>Campaign name</label><input id='n' name='name' size='50' "
        f"value='{escape(name)}'> "
    )
    parts = [_bulk_form(csrf, ids, action, "preview", inner, "Preview")]
    if template_id is not None:
        shown = library.preview(crm, actor, template_id, ids[0])
        report = library.empty_report(crm, actor, template_id, {"contact_ids": ids})
        empty = [
            f"<li>{escape(field)}: empty for {info['empty']} of {report['recipients']}"
            + (f" (fallback: {escape(str(info['fallback']))})" if info["fallback"] else "")
            + "</li>"
            for field, info in report["fields"].items()
            if info["empty"]
        ]
        body = shown["html"] or "<pre>" + escape(shown["text"]) + "</pre>"
        parts.append(
            f"<h2>Preview for the first selected contact</h2>"
            f"<p class='note'>Subject: {escape(shown['subject'])}</p>"
            f"<iframe sandbox title='Preview' srcdoc='{escape(body)}'></iframe>"
            + (
                f"<p class='note'>Empty merge fields:</p><ul>{''.join(empty)}</ul>"
                if empty
                else "<p class='note'>No selected contact has an empty merge field.</p>"
            )
            + _bulk_form(
                csrf,
                ids,
                action,
                "send",
                _hidden("template_id", template_id) + _hidden("name", name),
                f"Send to {count}",
            )
        )
    return "".join(parts) + back


@post("/campaigns/bulk", include_in_schema=False)
async def bulk_dialog(crm: CRM, request: Request[Any, Any, Any]) -> Any:
    """The list's "Send Email" / "Add to Campaign" bulk actions (steps: choose, preview, send
    or add), posted as a form with the selected ``contact_ids``."""
    actor = _actor(crm, request)
    if actor is None:
        return Redirect("/login?next=/contacts")
    form = await request.form()
    csrf = _session_csrf(crm, request)
    if "authorization" not in request.headers and (not csrf or form.get("_csrf") != csrf):
        return Response("CSRF token missing or wrong", status_code=403, media_type="text/plain")
    fields = {k: str(v) for k, v in form.items() if k != "contact_ids"}
    title = "Add to campaign" if fields.get("bulk") == "add_to_campaign" else "Send email"
    try:
        ids = _selected_ids([str(v) for v in form.getall("contact_ids", [])])
        body = await anyio.to_thread.run_sync(lambda: _bulk_step(crm, actor, csrf, fields, ids))
    except CultiveatError as exc:
        return _page(
            title,
            f"<p class='error'>{escape(exc.message)}</p><p><a href='/contacts'>Back</a></p>",
            exc.status,
        )
    return _page(title, body)


ROUTES = [email_dialog, email_send, bulk_dialog]
