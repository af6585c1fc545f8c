"""UI contributions: score column, hot-lead alert panel, score breakdown tab, dashboard panel.

All HTML is built from escaped values (``markupsafe.escape``); nothing user-supplied is
trusted as markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from markupsafe import Markup

from cultiveat_core.domain import ContactPanel, ContactTab, DashboardWidget, ListColumn
from cultiveat_scoring import tables

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

BAND_COLOURS = {"hot": "#10B981", "warm": "#3B82F6", "nurturing": "#F59E0B", "cold": "#6B7280"}
URGENCY_STYLE = {
    "high": ("#DC2626", "#FEE2E2"),
    "medium": ("#D97706", "#FEF3C7"),
    "standard": ("#374151", "#F3F4F6"),
}


def _badge(score: int | None, band: str | None) -> Markup:
    if score is None:
        return Markup('<span class="score score-none">—</span>')
    colour = BAND_COLOURS.get(band or "", "#6B7280")
    return Markup(
        '<span class="score score-{}" style="background:{};color:#fff;border-radius:9999px;'
        'padding:2px 8px">{}</span>'
    ).format(band or "", colour, score)


def score_column(crm: CRM, contact_ids: Sequence[int], **_: Any) -> dict[int, str]:
    s = tables.scores
    with crm.connect() as conn:
        rows = conn.execute(
            sa.select(s.c.contact_id, s.c.score, s.c.band).where(
                s.c.contact_id.in_(list(contact_ids))
            )
        ).all()
    found = {r[0]: _badge(r[1], r[2]) for r in rows}
    return {i: str(found.get(i, _badge(None, None))) for i in contact_ids}


def _signals_html(explanation: dict[str, Any]) -> Markup:
    items = Markup("").join(
        Markup('<li data-signal="{}">{}{}</li>').format(
            s["type"], s["text"], Markup(": <em>{}</em>").format(s["when"]) if s.get("when") else ""
        )
        for s in explanation["buying_signals"]
    )
    action = explanation["priority_action"]
    action_html = Markup("")
    if action:
        fg, bg = URGENCY_STYLE[action["urgency"]]
        action_html = Markup(
            '<p class="priority-action urgency-{}" style="color:{};background:{};'
            'padding:4px 8px;font-size:12px;font-weight:600">Priority Action: {}</p>'
        ).format(action["urgency"], fg, bg, action["text"])
    return Markup(
        '<p style="font-size:14px;font-weight:600">Key Buying Signals:</p>'
        '<ul style="font-size:12px;line-height:1.4">{}</ul>{}'
    ).format(items, action_html)


def hot_lead_panel(explanation: dict[str, Any]) -> Markup:
    if not explanation["hot_lead_panel"]:
        return Markup("")
    return Markup(
        '<aside class="hot-lead-alert" style="width:300px;border-radius:8px;background:#FEE2E2;'
        'border:1px solid #FECACA;padding:12px"><h3 style="color:#DC2626;font-size:12px;'
        'font-weight:700;text-transform:uppercase">Hot Lead Alert</h3>'
        '<p class="ai-score" style="font-size:36px">★ {}</p>{}</aside>'
    ).format(explanation["score"], _signals_html(explanation))


def hot_lead_alert(crm: CRM, actor: Any, contact: Any, **_: Any) -> str:
    """The seed's "Hot Lead Alert" beside the contact header (empty unless hot or stage Hot Lead)."""
    return str(hot_lead_panel(crm.extensions["scoring"].service.explain(actor, contact.id)))


def breakdown_tab(crm: CRM, actor: Any, contact: Any, **_: Any) -> str:
    explanation = crm.extensions["scoring"].service.explain(actor, contact.id)
    signals = (
        _signals_html(explanation)
        if explanation["buying_signals"] or explanation["priority_action"]
        else Markup("")
    )
    rows = Markup("").join(
        Markup("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>").format(
            r["label"], r["group"], r["points"], r.get("matched") or r.get("when") or ""
        )
        for r in explanation["rules"]
    )
    probability = explanation["probability"]
    predicted = (
        Markup("")
        if probability is None
        else Markup("<p>Predicted conversion: {}%</p>").format(round(100 * probability, 1))
    )
    return str(
        Markup(
            '<section class="score-breakdown"><p>AI Score: {} {}</p>'
            "<p>Fit {} · Engagement {} ({}%) · "
            "Total {}</p>{}{}<table><thead><tr><th>Rule</th><th>Group</th><th>Points</th>"
            "<th>Why</th></tr></thead>"
            "<tbody>{}</tbody></table></section>"
        ).format(
            explanation["score"],
            _badge(explanation["score"], explanation["band"]),
            explanation["fit"],
            explanation["engagement"],
            explanation["engagement_percent"],
            explanation["total"],
            predicted,
            signals,
            rows,
        )
    )


def hot_leads_widget(crm: CRM, actor: Any, **_: Any) -> str:
    from cultiveat_scoring.signals import work_next

    _, document = crm.extensions["scoring"].service.current()
    items = [i for i in work_next(crm, document, limit=10) if i["hot"]]
    rows = Markup("").join(
        Markup(
            '<li><a href="/contacts/{}">{}</a> {} '
            '<span class="priority-action urgency-{}">{}</span></li>'
        ).format(
            i["contact_id"],
            i["name"],
            _badge(i["score"], "hot"),
            i["priority_action"]["urgency"],
            i["priority_action"]["text"],
        )
        for i in items
    )
    return str(
        Markup('<section class="hot-leads"><h3>Hot leads</h3><ul>{}</ul></section>').format(
            rows or Markup("<li>No hot leads right now.</li>")
        )
    )


def contributions() -> list[Any]:
    return [
        ListColumn(
            name="score",
            label="Score",
            value=score_column,
            sort_key="score",
            permission="scoring.read",
            order=50,
        ),
        ContactPanel(
            name="hot_lead_alert",
            label="Hot lead alert",
            render=hot_lead_alert,
            permission="scoring.read",
            order=10,
        ),
        ContactTab(
            name="score_breakdown",
            label="Score",
            render=breakdown_tab,
            permission="scoring.read",
            icon="star",
            order=20,
        ),
        DashboardWidget(
            name="hot_leads",
            label="Hot leads",
            render=hot_leads_widget,
            permission="scoring.read",
            order=10,
        ),
    ]
