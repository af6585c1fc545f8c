"""UI contributions: the Segments tab on the contact page and the segment builder page."""

from __future__ import annotations

from typing import Any

from litestar import Response, get
from markupsafe import Markup

from cultiveat_core import ContactTab, NavItem
from cultiveat_segments.permissions import READ


def render_contact_tab(*, crm: Any, actor: Any, contact: Any, request: Any = None) -> Markup:
    """Seed 003 "Segments Tab": the contact's segments with qualification status."""
    from cultiveat_segments.plugin import service

    rows = service(crm).contact_segments(actor, contact.id)
    member = [r for r in rows if r["member"]]
    cards = []
    for r in rows:
        if not (r["member"] or r["qualifies"] or r["override"]):
            continue
        if r["override"] == "include":
            status = Markup('<span class="seg-manual" title="added by hand">manual</span>')
        elif r["member"] and r["qualifies"] is not False:
            status = Markup('<span class="seg-ok" title="meets all criteria">&#10003;</span>')
        elif r["member"]:
            status = Markup('<span class="seg-warn" title="no longer qualifies">&#9888;</span>')
        else:
            status = Markup('<span class="seg-qualifies">qualifies</span>')
        added = f"Contact added on {r['added_at'][:10]}" if r["added_at"] else "Not a member yet"
        cards.append(
            Markup(
                '<li class="segment-card" data-segment-id="{id}"><strong>{name}</strong> {status}'
                "<p>{description}</p><small>{added} &bull; {count} contacts</small></li>"
            ).format(
                id=r["segment_id"],
                name=r["name"],
                status=status,
                description=r["description"],
                added=added,
                count=r["member_count"],
            )
        )
    return Markup(
        '<section class="contact-segments"><h3>Contact Segments <span class="badge">{n}</span></h3>'
        '<a href="/segments/builder">New Segment</a><ul>{cards}</ul></section>'
    ).format(n=len(member), cards=Markup("").join(cards) or Markup("<li>No segments yet.</li>"))


BUILDER_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Segment builder - Cultiveat</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto}textarea{width:100%;height:14rem;
font-family:monospace}.err{color:#b00020}li{margin:.2rem 0}</style></head>
<body><h1>Segment builder</h1>
<p>Definition (JSON: <code>{"all": [...]}</code>, <code>{"any": [...]}</code>, <code>{"not": ...}</code> and
conditions; see <a href="/api/segments/operators">fields and operators</a>).</p>
<form id="builder" method="post" action="/api/segments">
<label>Name <input name="name" required maxlength="120"></label>
<textarea name="definition">{"all": [{"field": "company_size", "op": ">", "value": 100}]}</textarea>
<button type="button" id="preview">Preview</button> <button type="submit">Save segment</button></form>
<div id="result" aria-live="polite"></div>
<script>
const form = document.getElementById("builder"), out = document.getElementById("result");
const headers = () => ({"Content-Type": "application/json",
  "Authorization": "Bearer " + (localStorage.getItem("cultiveat_token") || "")});
function show(data) {
  out.textContent = "";
  if (data.errors) { for (const e of data.errors) { const p = document.createElement("p");
    p.className = "err"; p.textContent = (e.field || "") + ": " + e.message; out.append(p); } return; }
  const h = document.createElement("h2"); h.textContent = (data.count ?? data.member_count) + " contacts";
  out.append(h); const ul = document.createElement("ul");
  for (const m of data.members || []) { const li = document.createElement("li");
    li.textContent = m.first_name + " " + m.last_name + " <" + m.email + ">"; ul.append(li); }
  out.append(ul);
}
async function send(url, body) {
  let definition; try { definition = JSON.parse(form.definition.value); }
  catch (e) { show({errors: [{field: "definition", message: "not valid JSON: " + e.message}]}); return; }
  const r = await fetch(url, {method: "POST", headers: headers(), body: JSON.stringify({...body, definition})});
  show(await r.json());
}
document.getElementById("preview").onclick = () => send("/api/segments/preview", {});
form.onsubmit = (ev) => { ev.preventDefault(); send("/api/segments", {name: form.name.value}); };
</script></body></html>"""


@get("/segments/builder", include_in_schema=False, media_type="text/html", sync_to_thread=False)
def builder_page() -> Response[str]:
    """The builder works against the API with the token the web UI keeps (``cultiveat_token``)."""
    return Response(BUILDER_HTML, media_type="text/html")


UI = [
    NavItem(
        name="segments",
        label="Segments",
        href="/segments/builder",
        icon="segments",
        permission=READ,
        order=40,
    ),
    ContactTab(
        name="segments",
        label="Segments",
        render=render_contact_tab,
        icon="segments",
        permission=READ,
        order=50,
    ),
]
