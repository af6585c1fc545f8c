"""Bulk actions on many contacts, chosen by ids or by the list's filter: one transaction,
set-based SQL, one audit record, batch events.

Actions: ``add_tags``/``remove_tags`` (``tags``), ``set_stage``/``set_owner``/``set_type``/
``set_channel`` (``value``), ``update`` (``fields``: stage, owner, type, channel, industry)
and ``delete``. Without ``contacts.update_any``/``delete_any`` every chosen contact must be
the actor's own, or nothing happens (403 saying how many are not).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from cultiveat_core.db import tables
from cultiveat_core.db.metadata import utcnow
from cultiveat_core.domain import Actor
from cultiveat_core.errors import FieldError, PermissionDenied, ValidationError
from cultiveat_core.hookcalls import implementations
from cultiveat_core.services.search import refresh_search_docs
from cultiveat_core.services.tags import tag_ids
from cultiveat_core.services.unit_of_work import UnitOfWork, transaction
from cultiveat_core.services.validation import clean_tags

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

c = tables.contacts
ct = tables.contact_tags
SET_ACTIONS = {
    "set_stage": "stage",
    "set_owner": "owner",
    "set_type": "type",
    "set_channel": "channel",
}
UPDATABLE = ("stage", "owner", "type", "channel", "industry")
ACTIONS = ("add_tags", "remove_tags", *SET_ACTIONS, "update", "delete")
MAX_IDS = 10_000
EVENT_CHUNK = 1000


def target_query(crm: CRM, actor: Actor, body: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """(select of contact ids, what was targeted) for ``{"ids": [...]}`` or ``{"filter": …}``."""
    from cultiveat_core.services.listing import parse_query

    ids, filters = body.get("ids"), body.get("filter")
    if (ids is None) == (filters is None):
        raise ValidationError.field(
            "ids", "give either ids (a list) or filter (the list's filters)"
        )
    if ids is not None:
        if not isinstance(ids, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in ids
        ):
            raise ValidationError.field("ids", "must be a list of contact ids")
        if not ids or len(ids) > MAX_IDS:
            raise ValidationError.field("ids", f"give 1 to {MAX_IDS} ids (use filter for more)")
        return sa.select(c.c.id).where(c.c.id.in_(ids)), {"ids": ids}
    if not isinstance(filters, Mapping):
        raise ValidationError.field(
            "filter", 'must be an object of list filters, e.g. {"stage": "Lost"}'
        )
    query = parse_query(crm, actor, filters)
    return sa.select(c.c.id).where(query.where()), {"filter": dict(query.echo)}


def _check_ownership(conn: sa.Connection, actor: Actor, target: Any, action: str) -> None:
    if actor.can(f"contacts.{action}_any"):
        return
    others = conn.execute(
        sa.select(sa.func.count())
        .select_from(c)
        .where(c.c.id.in_(target), sa.or_(c.c.owner_id.is_(None), c.c.owner_id != actor.user_id))
    ).scalar_one()
    if others:
        raise PermissionDenied(
            f"{others} of the chosen contacts belong to other users; you may {action} "
            "only your own (nothing was changed)",
            permission=f"contacts.{action}_any",
        )


def bulk_action(
    crm: CRM, actor: Actor, body: Mapping[str, Any], *, uow: UnitOfWork | None = None
) -> dict[str, Any]:
    if not isinstance(body, Mapping):
        raise ValidationError.field("body", "must be an object with action and ids or filter")
    action = body.get("action")
    if action not in ACTIONS:
        raise ValidationError.field("action", f"must be one of: {', '.join(ACTIONS)}")
    kind = "delete" if action == "delete" else "update"
    crm.permissions.require(actor, f"contacts.{kind}")
    target, described = target_query(crm, actor, body)
    with transaction(crm, actor, uow) as work:
        conn = work.conn
        _check_ownership(conn, actor, target, kind)
        ids = (
            list(conn.execute(target.order_by(c.c.id)).scalars()) if _listened(crm, kind) else None
        )
        before = _snapshot(crm, conn, ids)
        if action == "delete":
            count = conn.execute(c.delete().where(c.c.id.in_(target))).rowcount
        elif action in ("add_tags", "remove_tags"):
            count = _tag_action(conn, action, body, target)
        else:
            fields = (
                {SET_ACTIONS[action]: body.get("value")}
                if action in SET_ACTIONS
                else body.get("fields")
            )
            count = _field_action(crm, conn, fields, target)
        work.audit(
            f"contact.bulk_{action}",
            "contact",
            None,
            {
                **described,
                "count": count,
                **{k: body[k] for k in ("tags", "value", "fields") if k in body},
            },
        )
        _emit(crm, work, conn, kind, ids, before)
    return {"action": action, "count": count}


def _listened(crm: CRM, kind: str) -> bool:
    names = (
        ("contact_deleted", "contacts_deleted")
        if kind == "delete"
        else ("contact_updated", "contacts_updated")
    )
    return any(implementations(crm.pm, n) for n in names)


def _snapshot(crm: CRM, conn: sa.Connection, ids: list[int] | None) -> dict[int, Any]:
    if not ids:
        return {}
    found: dict[int, Any] = {}
    for start in range(0, len(ids), EVENT_CHUNK):
        found.update({x.id: x for x in crm.contacts.load(conn, ids[start : start + EVENT_CHUNK])})
    return found


def _emit(
    crm: CRM,
    work: UnitOfWork,
    conn: sa.Connection,
    kind: str,
    ids: list[int] | None,
    before: dict[int, Any],
) -> None:
    """Per-contact events (batched by the dispatcher) only when some plugin listens."""
    from cultiveat_core.services.contacts import contact_values

    if not ids:
        return
    if kind == "delete":
        for contact in before.values():
            work.emit("contact_deleted", contact=contact)
        return
    after = _snapshot(crm, conn, ids)
    for contact_id, new in after.items():
        old_values, new_values = contact_values(before[contact_id]), contact_values(new)
        changes = {
            k: (old_values.get(k), v) for k, v in new_values.items() if old_values.get(k) != v
        }
        if changes:
            work.emit("contact_updated", contact=new, changes=changes)


def _tag_action(conn: sa.Connection, action: str, body: Mapping[str, Any], target: Any) -> int:
    errors: list[FieldError] = []
    names = clean_tags(body.get("tags"), "tags", errors)
    if errors or not names:
        raise ValidationError(errors or [FieldError("tags", "give at least one tag")])
    touched = 0
    if action == "add_tags":
        ids = tag_ids(conn, names)
        now = utcnow()
        for tag_id in ids.values():
            already = sa.select(ct.c.contact_id).where(ct.c.tag_id == tag_id)
            rows = sa.select(
                c.c.id,
                sa.literal(tag_id),
                sa.literal("manual"),
                sa.literal(now, ct.c.created_at.type),
            ).where(c.c.id.in_(target), c.c.id.not_in(already))
            touched += conn.execute(
                ct.insert().from_select(["contact_id", "tag_id", "source", "created_at"], rows)
            ).rowcount
    else:
        t = tables.tags
        tag_filter = ct.c.tag_id.in_(
            sa.select(t.c.id).where(t.c.name_key.in_([n.lower() for n in names]))
        )
        affected = sa.select(ct.c.contact_id).where(tag_filter, ct.c.contact_id.in_(target))
        # the filter may name the removed tag itself: mark the affected rows before the delete
        # (a NULL search document) and refresh exactly those afterwards
        conn.execute(
            c.update()
            .where(c.c.id.in_(affected))
            .values(search_doc=None, version=c.c.version + 1, updated_at=utcnow())
        )
        touched = conn.execute(ct.delete().where(tag_filter, ct.c.contact_id.in_(target))).rowcount
        refresh_search_docs(conn, sa.select(c.c.id).where(c.c.search_doc.is_(None)))
        return int(touched)
    conn.execute(
        c.update().where(c.c.id.in_(target)).values(version=c.c.version + 1, updated_at=utcnow())
    )
    refresh_search_docs(conn, target)
    return int(touched)


def _field_action(crm: CRM, conn: sa.Connection, fields: Any, target: Any) -> int:
    if not isinstance(fields, Mapping) or not fields:
        raise ValidationError.field("fields", f"give the fields to set: {', '.join(UPDATABLE)}")
    unknown = sorted(set(fields) - set(UPDATABLE))
    if unknown:
        raise ValidationError.field(unknown[0], f"bulk update sets only: {', '.join(UPDATABLE)}")
    values = crm.contacts.clean(conn, dict(fields), partial=True)
    return int(
        conn.execute(
            c.update()
            .where(c.c.id.in_(target))
            .values(**values, version=c.c.version + 1, updated_at=utcnow())
        ).rowcount
    )
