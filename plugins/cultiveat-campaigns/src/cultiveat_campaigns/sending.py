"""The jobs that send: resolve the audience into recipient rows, then one job per batch.

``campaigns.prepare`` inserts recipient rows set-based (batches of the audience) and queues
``campaigns.send_batch`` jobs, each naming a range of recipient ids (never one job per
contact). A batch job re-checks consent at send time (set-based), renders each message in
the sandbox, adds signed tracking links and hands the batch to the campaign's channel. The
channel's outbox makes a re-run harmless: nobody gets the same campaign twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import sqlalchemy as sa

from cultiveat_campaigns import audience as audiences
from cultiveat_campaigns import consent, library, rendering, tracking
from cultiveat_campaigns.channels import channel
from cultiveat_campaigns.service import capacity_of
from cultiveat_campaigns.tables import campaigns, recipients
from cultiveat_core import CRM, Actor, JobContext, ValidationError
from cultiveat_core.db import tables as core_tables
from cultiveat_core.db.metadata import utcnow

log = logging.getLogger("cultiveat.campaigns")
c = core_tables.contacts
r = recipients
PENDING = ("queued", "deferred")
HEARTBEAT_EVERY = 50  # messages between progress reports (each extends the job lease)


class RetryLater(Exception):
    """Some messages were deferred by the channel (4xx, connection): the job runs again."""


def _campaign(crm: CRM, campaign_id: int) -> dict[str, Any] | None:
    with crm.connect() as conn:
        row = (
            conn.execute(sa.select(campaigns).where(campaigns.c.id == campaign_id))
            .mappings()
            .first()
        )
    return dict(row) if row else None


def _insert_recipients(
    conn: sa.Connection, campaign_id: int, ids: list[int], room: int | None
) -> int:
    exists = sa.exists().where(r.c.campaign_id == campaign_id, r.c.contact_id == c.c.id)
    select = (
        sa.select(
            sa.literal(campaign_id),
            c.c.id,
            sa.literal("queued"),
            sa.literal(utcnow(), r.c.created_at.type),
        )
        .where(c.c.id.in_(ids), ~exists)
        .order_by(c.c.id)
    )
    if room is not None:
        select = select.limit(max(room, 0))
    result = conn.execute(
        r.insert().from_select(["campaign_id", "contact_id", "status", "created_at"], select)
    )
    return max(result.rowcount or 0, 0)


def _ranges(crm: CRM, campaign_id: int, size: int) -> Iterator[tuple[int, int]]:
    """Consecutive (first, last) recipient-id ranges of ``size`` pending rows, streamed."""
    after = 0
    while True:
        with crm.connect() as conn:
            ids = list(
                conn.execute(
                    sa.select(r.c.id)
                    .where(r.c.campaign_id == campaign_id, r.c.id > after, r.c.status.in_(PENDING))
                    .order_by(r.c.id)
                    .limit(size)
                ).scalars()
            )
        if not ids:
            return
        yield ids[0], ids[-1]
        after = ids[-1]


def _queue_batches(crm: CRM, campaign_id: int, size: int) -> int:
    count = 0
    with crm.transaction(Actor.system("campaigns")) as uow:
        for first, last in _ranges(crm, campaign_id, size):
            crm.jobs.enqueue(
                "campaigns.send_batch",
                {"campaign_id": campaign_id, "first_id": first, "last_id": last},
                uow=uow,
            )
            count += 1
    return count


def prepare(ctx: JobContext, campaign_id: int) -> dict[str, Any]:
    crm = ctx.crm
    row = _campaign(crm, campaign_id)
    if row is None or row["status"] != "Active":
        return {"skipped": f"campaign is {row['status'] if row else 'deleted'}"}
    ch = channel(crm, row["channel"])
    cap = capacity_of(crm, row)
    with crm.connect() as conn:
        total = int(
            conn.execute(sa.select(sa.func.count()).where(r.c.campaign_id == campaign_id)).scalar()
            or 0
        )
    added = 0
    for ids in audiences.id_batches(crm, row["audience"], 5000):
        room = None if cap is None else cap - total
        if room is not None and room <= 0:
            with crm.begin() as conn:
                conn.execute(
                    campaigns.update()
                    .where(campaigns.c.id == campaign_id)
                    .values(
                        note=f"capacity of {cap} reached: the rest of the audience was not added"
                    )
                )
            break
        with crm.begin() as conn:
            n = _insert_recipients(conn, campaign_id, ids, room)
        total += n
        added += n
        ctx.progress(added, None, "adding recipients")
    with crm.begin() as conn:
        conn.execute(
            campaigns.update().where(campaigns.c.id == campaign_id).values(prepared_at=utcnow())
        )
    batches = _queue_batches(crm, campaign_id, ch.batch_size)
    _complete_if_done(crm, campaign_id)
    return {"recipients_added": added, "batches": batches}


def requeue(ctx: JobContext, campaign_id: int) -> dict[str, Any]:
    """After a resume: queue batch jobs for every recipient still waiting."""
    row = _campaign(ctx.crm, campaign_id)
    if row is None or row["status"] != "Active":
        return {"skipped": True}
    return {
        "batches": _queue_batches(ctx.crm, campaign_id, channel(ctx.crm, row["channel"]).batch_size)
    }


def _complete_if_done(crm: CRM, campaign_id: int) -> None:
    pending = sa.exists().where(r.c.campaign_id == campaign_id, r.c.status.in_(PENDING))
    with crm.begin() as conn:
        conn.execute(
            campaigns.update()
            .where(
                campaigns.c.id == campaign_id,
                campaigns.c.status == "Active",
                campaigns.c.prepared_at.is_not(None),
                ~pending,
            )
            .values(status="Completed", completed_at=utcnow(), updated_at=utcnow())
        )


OUTCOME = {
    "sent": "sent",
    "failed": "failed",
    "suppressed": "excluded",
    "deferred": "deferred",
    "unknown": "unknown",
}


def build_message(
    crm: CRM,
    ch: Any,
    template: Mapping[str, Any],
    contact: Mapping[str, Any],
    *,
    key: str,
    kind: str,
    ref: int,
    meta: dict[str, Any],
) -> dict[str, Any]:
    tok = tracking.token(crm, kind, ref)
    unsubscribe = tracking.unsubscribe_url(crm, tok)
    rendered = rendering.render(
        template,
        contact,
        {"unsubscribe_url": unsubscribe, "sender_email": getattr(ch, "sender_email", "")},
    )
    return {
        "key": key,
        "contact_id": contact["id"],
        "to": contact[ch.address_field],
        "subject": rendered.subject,
        "text": tracking.instrument_text(rendered.text or "", unsubscribe),
        "html": tracking.instrument_html(crm, tok, rendered.html, unsubscribe)
        if rendered.html
        else None,
        "unsubscribe_url": unsubscribe,
        "meta": meta,
    }


def send_batch(ctx: JobContext, campaign_id: int, first_id: int, last_id: int) -> dict[str, Any]:
    crm = ctx.crm
    row = _campaign(crm, campaign_id)
    if row is None or row["status"] != "Active":
        return {"skipped": f"campaign is {row['status'] if row else 'deleted'}"}
    ch = channel(crm, row["channel"])
    allowed = consent.allowed_clause(crm, ch.consent_purpose, c.c.id)
    query = (
        sa.select(
            r.c.id.label("recipient_id"), c, sa.case((allowed, True), else_=False).label("allowed")
        )
        .join(c, c.c.id == r.c.contact_id)
        .where(
            r.c.campaign_id == campaign_id,
            r.c.id.between(first_id, last_id),
            r.c.status.in_(PENDING),
        )
        .order_by(r.c.id)
    )
    with crm.connect() as conn:
        rows = [dict(x) for x in conn.execute(query).mappings()]
        template = library.get_row(conn, row["template_id"])
    excluded = [x["recipient_id"] for x in rows if not x["allowed"]]
    if excluded:
        with crm.begin() as conn:
            conn.execute(
                r.update()
                .where(r.c.id.in_(excluded))
                .values(
                    status="excluded", error="no marketing consent or unsubscribed at send time"
                )
            )
    wanted = [x for x in rows if x["allowed"]]
    try:
        messages = [
            build_message(
                crm,
                ch,
                template,
                x,
                key=f"campaign:{campaign_id}",
                kind="c",
                ref=x["recipient_id"],
                meta={"campaign_id": campaign_id},
            )
            for x in wanted
        ]
    except ValidationError as exc:
        with crm.begin() as conn:
            conn.execute(
                r.update()
                .where(r.c.id.in_([x["recipient_id"] for x in wanted]))
                .values(status="failed", error=exc.message[:500])
            )
        return {"failed": len(wanted), "error": exc.message}
    results: list[dict[str, Any]] = []
    for start in range(0, len(messages), HEARTBEAT_EVERY):
        results += ch.send(crm, messages[start : start + HEARTBEAT_EVERY])
        # reporting progress extends the job's lease: a slow batch is not taken for a dead one
        ctx.progress(
            min(start + HEARTBEAT_EVERY, len(messages)), len(messages), f"campaign {campaign_id}"
        )
    by_contact = {x["id"]: x["recipient_id"] for x in wanted}
    now = utcnow()
    updates = []
    for res in results:
        if res["status"] not in OUTCOME:
            continue  # in_progress: the process sending it records the outcome
        status = OUTCOME[res["status"]]
        updates.append(
            {
                "rid": by_contact[res["contact_id"]],
                "status": status,
                "message_id": res.get("message_id"),
                "error": (res.get("error") or None) and str(res["error"])[:500],
                "sent_at": now if status == "sent" else None,
                "bounced_at": now if status == "failed" and (res.get("code") or 0) >= 500 else None,
            }
        )
    if updates:
        with crm.begin() as conn:
            conn.execute(
                r.update()
                .where(r.c.id == sa.bindparam("rid"))
                .values(
                    status=sa.bindparam("status"),
                    message_id=sa.bindparam("message_id"),
                    error=sa.bindparam("error"),
                    sent_at=sa.func.coalesce(
                        r.c.sent_at, sa.bindparam("sent_at", type_=r.c.sent_at.type)
                    ),
                    bounced_at=sa.func.coalesce(
                        r.c.bounced_at, sa.bindparam("bounced_at", type_=r.c.bounced_at.type)
                    ),
                ),
                updates,
            )
    counts: dict[str, int] = {"excluded": len(excluded)}
    for u in updates:
        counts[u["status"]] = counts.get(u["status"], 0) + 1
    held = sum(1 for res in results if res["status"] == "in_progress")
    if counts.get("deferred") or held:
        # deferred: 4xx/connection errors; held: rows claimed by a process that may have died
        # (the channel resends them, with the same Message-ID, once that claim's lease is over)
        raise RetryLater(
            f"{counts.get('deferred', 0)} message(s) deferred and {held} held by another "
            f"process in the {ch.name} channel; retrying"
        )
    _complete_if_done(crm, campaign_id)
    return counts


def send_one(
    ctx: JobContext, template_id: int, contact_id: int, overrides: dict[str, Any], send_key: str
) -> dict[str, Any]:
    """One email to one contact (the send-email dialog); no tracking, a one-to-one message."""
    crm = ctx.crm
    ch = channel(crm, "email")
    with crm.connect() as conn:
        template = {**library.get_row(conn, template_id), **overrides}
        contact = library.contact_values(conn, contact_id)
    rendered = rendering.render(
        template, contact, {"sender_email": getattr(ch, "sender_email", ""), "unsubscribe_url": ""}
    )
    [result] = ch.send(
        crm,
        [
            {
                "key": send_key,
                "contact_id": contact_id,
                "to": contact[ch.address_field],
                "subject": rendered.subject,
                "text": rendered.text,
                "html": rendered.html or None,
                "meta": {"template_id": template_id, "template": template["name"]},
            }
        ],
    )
    if result["status"] == "deferred":
        raise RetryLater(f"deferred by the {ch.name} channel: {result.get('error')}")
    return {k: result.get(k) for k in ("status", "message_id", "error")}
