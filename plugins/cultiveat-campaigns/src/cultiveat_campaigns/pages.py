"""Server-rendered dialogs for the web UI (signed-in users, session cookie + CSRF):

``/campaigns/contacts/{id}/email`` is the send-email dialog of the contact page (seed 003):
pick a template (grouped by category), see the preview for this contact (required before
sending), edit the subject, send. Sending is a job.
"""

from __future__ import annotations

from html import escape
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect

from cultiveat_campaigns import library, service
from cultiveat_core import CRM, CultiveatError

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


ROUTES = [email_dialog, email_send]
