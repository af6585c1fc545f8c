"""Drip and onboarding sequences: steps with delays and conditions, enrolment and exit rules.

Each contact is enrolled at most once per sequence. A periodic job (and ``tick``) takes the
enrolments whose next step is due on the plugin's clock, exits those that met an exit rule
(e.g. replied), skips a step whose condition is not met (opened, clicked, replied since
enrolment, or score above N), sends the rest in channel-sized batches and schedules the next
step. The send key ``sequence:<id>:step:<n>`` makes every step at-most-once per contact.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from cultiveat_campaigns import audience as audiences
from cultiveat_campaigns import consent, library
from cultiveat_campaigns.channels import channel
from cultiveat_campaigns.sending import build_message
from cultiveat_campaigns.state import state
from cultiveat_campaigns.tables import enrolments, sequences, steps, templates
from cultiveat_core import CRM, Actor, Conflict, FieldError, NotFound, ValidationError
from cultiveat_core.db import tables as core_tables
from cultiveat_core.db.metadata import utcnow

EVENT_CONDITIONS = {
    "opened": "email_opened",
    "clicked": "email_clicked",
    "replied": "email_replied",
}
EXIT_EVENTS = {
    "replied": "email_replied",
    "unsubscribed": "unsubscribed",
    "clicked": "email_clicked",
    "purchased": "purchase",
}
c = core_tables.contacts
a = core_tables.activities
e = enrolments


def _clean_condition(crm: CRM, index: int, value: Any) -> dict[str, Any] | None:
    if value in (None, {}):
        return None
    field = f"steps[{index}].condition"
    if not isinstance(value, Mapping) or len(value) != 1:
        raise ValidationError.field(
            field,
            'one of {"opened": true}, {"clicked": true}, {"replied": true}, {"score_above": 50}',
        )
    ((key, arg),) = value.items()
    if key in EVENT_CONDITIONS and arg is True:
        return {key: True}
    if key == "score_above" and isinstance(arg, int | float):
        if "score" not in crm.registry.contact_fields:
            raise ValidationError.field(
                field,
                "score conditions need a plugin providing the `score` contact "
                "field (cultiveat-scoring)",
            )
        return {key: arg}
    raise ValidationError.field(field, f"unknown condition {key!r}")


def create(crm: CRM, actor: Actor, data: Mapping[str, Any]) -> dict[str, Any]:
    crm.permissions.require(actor, "campaigns.manage")
    name, raw_steps = data.get("name"), data.get("steps")
    errors = []
    if not isinstance(name, str) or not name.strip():
        errors.append(FieldError("name", "a name is required"))
    if not isinstance(raw_steps, list) or not raw_steps:
        errors.append(
            FieldError("steps", 'at least one step: [{"template_id": 1, "delay_hours": 0}]')
        )
    exit_on = data.get("exit_on", ["replied", "unsubscribed"])
    if not isinstance(exit_on, list) or set(exit_on) - set(EXIT_EVENTS):
        errors.append(FieldError("exit_on", "a list of: " + ", ".join(EXIT_EVENTS)))
    if errors:
        raise ValidationError(errors)
    clean_steps = []
    for i, step in enumerate(raw_steps):
        if not isinstance(step, Mapping) or not isinstance(step.get("template_id"), int):
            raise ValidationError.field(
                f"steps[{i}].template_id", "the id of a template is required"
            )
        delay = step.get("delay_seconds", float(step.get("delay_hours", 0) or 0) * 3600)
        if not isinstance(delay, int | float) or delay < 0:
            raise ValidationError.field(f"steps[{i}].delay_hours", "must be a non-negative number")
        clean_steps.append(
            {
                "position": i,
                "template_id": step["template_id"],
                "delay_seconds": int(delay),
                "condition": _clean_condition(crm, i, step.get("condition")),
            }
        )
    ch = channel(crm, str(data.get("channel", "email")))
    with crm.transaction(actor) as uow:
        known = set(uow.conn.execute(sa.select(templates.c.id)).scalars())
        for step in clean_steps:
            if step["template_id"] not in known:
                raise ValidationError.field(
                    f"steps[{step['position']}].template_id",
                    f"template {step['template_id']} does not exist",
                )
        if uow.conn.execute(
            sa.select(sequences.c.id).where(sequences.c.name == name.strip())
        ).first():
            raise Conflict(f"a sequence named {name!r} exists")
        seq_id = uow.conn.execute(
            sequences.insert()
            .values(
                name=name.strip(),
                channel=ch.name,
                status="Active",
                exit_on=exit_on,
                created_by=actor.user_id,
                created_at=utcnow(),
            )
            .returning(sequences.c.id)
        ).scalar_one()
        uow.conn.execute(steps.insert(), [{**s, "sequence_id": seq_id} for s in clean_steps])
        uow.audit(
            "campaigns.sequence.create",
            "campaign_sequence",
            seq_id,
            {"name": name, "steps": len(clean_steps)},
        )
    return get(crm, actor, seq_id)


def get(crm: CRM, actor: Actor, sequence_id: int) -> dict[str, Any]:
    crm.permissions.require(actor, "campaigns.read")
    with crm.connect() as conn:
        row = (
            conn.execute(sa.select(sequences).where(sequences.c.id == sequence_id))
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(f"sequence {sequence_id} does not exist")
        step_rows = (
            conn.execute(
                sa.select(steps)
                .where(steps.c.sequence_id == sequence_id)
                .order_by(steps.c.position)
            )
            .mappings()
            .all()
        )
        counts = dict(
            conn.execute(
                sa.select(e.c.status, sa.func.count())
                .where(e.c.sequence_id == sequence_id)
                .group_by(e.c.status)
            ).all()
        )
    return {
        "id": row["id"],
        "name": row["name"],
        "channel": row["channel"],
        "status": row["status"],
        "exit_on": row["exit_on"],
        "steps": [
            {
                "position": s["position"],
                "template_id": s["template_id"],
                "delay_seconds": s["delay_seconds"],
                "condition": s["condition"],
            }
            for s in step_rows
        ],
        "enrolments": {k: int(v) for k, v in counts.items()},
    }


def _insert_ignore(conn: sa.Connection, rows: list[dict[str, Any]]) -> int:
    """Insert the enrolments that do not exist yet; answers how many were new."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = (
        insert(e)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["sequence_id", "contact_id"])
        .returning(e.c.id)
    )
    return len(conn.execute(statement).all())


def enrol(crm: CRM, actor: Actor, sequence_id: int, contact_ids: list[int]) -> dict[str, Any]:
    """Enrol contacts (each at most once per sequence); the first step is due after its delay."""
    crm.permissions.require(actor, "campaigns.manage")
    spec = audiences.validate(crm, {"contact_ids": contact_ids})
    now = state(crm).clock.now()
    with crm.transaction(actor) as uow:
        first = uow.conn.execute(
            sa.select(steps.c.delay_seconds).where(
                steps.c.sequence_id == sequence_id, steps.c.position == 0
            )
        ).scalar()
        if first is None:
            raise NotFound(f"sequence {sequence_id} does not exist")
        rows = [
            {
                "sequence_id": sequence_id,
                "contact_id": cid,
                "status": "active",
                "step": 0,
                "next_run_at": now + timedelta(seconds=first),
                "enrolled_at": now,
            }
            for cid in spec["contact_ids"]
        ]
        added = sum(_insert_ignore(uow.conn, rows[i : i + 1000]) for i in range(0, len(rows), 1000))
        uow.audit(
            "campaigns.sequence.enrol", "campaign_sequence", sequence_id, {"contacts": len(rows)}
        )
    return {"sequence_id": sequence_id, "enrolled": added, "already": len(rows) - added}


def _event_since(types: list[str]) -> Any:
    return sa.exists().where(
        a.c.contact_id == e.c.contact_id, a.c.type.in_(types), a.c.occurred_at >= e.c.enrolled_at
    )


def _condition_clause(crm: CRM, condition: Mapping[str, Any] | None) -> Any:
    if not condition:
        return sa.true()
    ((key, arg),) = condition.items()
    if key in EVENT_CONDITIONS:
        return _event_since([EVENT_CONDITIONS[key]])
    field = crm.registry.contact_fields.get("score")
    if field is None:
        return sa.false()
    return sa.exists().where(c.c.id == e.c.contact_id, field.expression(c) > arg)


def tick(crm: CRM, limit: int = 1000) -> dict[str, int]:
    """Advance every due enrolment by one step; answers counts of what happened."""
    now = state(crm).clock.now()
    done = {"sent": 0, "skipped": 0, "exited": 0, "completed": 0, "excluded": 0}
    with crm.connect() as conn:
        seqs = (
            conn.execute(sa.select(sequences).where(sequences.c.status == "Active"))
            .mappings()
            .all()
        )
    for seq in seqs:
        exits = [EXIT_EVENTS[x] for x in seq["exit_on"] or []]
        with crm.begin() as conn:
            if exits:
                result = conn.execute(
                    e.update()
                    .where(
                        e.c.sequence_id == seq["id"], e.c.status == "active", _event_since(exits)
                    )
                    .values(
                        status="exited",
                        exit_reason="exit rule: " + ", ".join(seq["exit_on"]),
                        next_run_at=None,
                    )
                )
                done["exited"] += max(result.rowcount or 0, 0)
            step_rows = (
                conn.execute(
                    sa.select(steps)
                    .where(steps.c.sequence_id == seq["id"])
                    .order_by(steps.c.position)
                )
                .mappings()
                .all()
            )
        for step in step_rows:
            _run_step(crm, seq, step, step_rows, now, limit, done)
    return done


def _run_step(
    crm: CRM,
    seq: Mapping[str, Any],
    step: Mapping[str, Any],
    all_steps: list[Any],
    now: Any,
    limit: int,
    done: dict[str, int],
) -> None:
    ch = channel(crm, seq["channel"])
    due = sa.and_(
        e.c.sequence_id == seq["id"],
        e.c.status == "active",
        e.c.step == step["position"],
        e.c.next_run_at <= now,
    )
    allowed = consent.allowed_clause(crm, ch.consent_purpose, c.c.id)
    query = (
        sa.select(
            e.c.id.label("enrolment_id"),
            c,
            sa.case((_condition_clause(crm, step["condition"]), True), else_=False).label("met"),
            sa.case((allowed, True), else_=False).label("allowed"),
        )
        .join(c, c.c.id == e.c.contact_id)
        .where(due)
        .order_by(e.c.id)
        .limit(limit)
    )
    with crm.connect() as conn:
        rows = [dict(x) for x in conn.execute(query).mappings()]
        template = library.get_row(conn, step["template_id"])
    if not rows:
        return
    to_send = [x for x in rows if x["met"] and x["allowed"]]
    # deferred by the channel, or held by a process that may have died (resent after its
    # lease): the step stays due for them and runs again
    held: set[int] = set()
    for start in range(0, len(to_send), ch.batch_size):
        batch = to_send[start : start + ch.batch_size]
        messages = [
            build_message(
                crm,
                ch,
                template,
                x,
                key=f"sequence:{seq['id']}:step:{step['position']}",
                kind="q",
                ref=x["enrolment_id"],
                meta={"sequence_id": seq["id"], "step": step["position"]},
            )
            for x in batch
        ]
        results = ch.send(crm, messages)
        done["sent"] += sum(1 for res in results if res["status"] == "sent")
        held |= {
            res["contact_id"] for res in results if res["status"] in ("deferred", "in_progress")
        }
    done["skipped"] += sum(1 for x in rows if not x["met"])
    done["excluded"] += sum(1 for x in rows if x["met"] and not x["allowed"])
    nxt = next((s for s in all_steps if s["position"] == step["position"] + 1), None)
    ids = [x["enrolment_id"] for x in rows if x["id"] not in held]
    with crm.begin() as conn:
        if nxt is None:
            conn.execute(
                e.update()
                .where(e.c.id.in_(ids))
                .values(status="completed", step=step["position"] + 1, next_run_at=None)
            )
            done["completed"] += len(ids)
        else:
            conn.execute(
                e.update()
                .where(e.c.id.in_(ids))
                .values(
                    step=nxt["position"], next_run_at=now + timedelta(seconds=nxt["delay_seconds"])
                )
            )


def exit_contacts(crm: CRM, contact_ids: list[int], reason: str) -> None:
    if contact_ids:
        with crm.begin() as conn:
            conn.execute(
                e.update()
                .where(e.c.contact_id.in_(contact_ids), e.c.status == "active")
                .values(status="exited", exit_reason=reason, next_run_at=None)
            )
