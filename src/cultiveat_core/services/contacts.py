"""Contacts: create, read, update, delete; the only writer of ``core_contacts``."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from cultiveat_core.db import tables
from cultiveat_core.db.metadata import utcnow
from cultiveat_core.domain import Actor, Address, Contact, SocialLinks
from cultiveat_core.domain.contacts import ADDRESS_PARTS, SOCIAL_NETWORKS
from cultiveat_core.errors import (
    Conflict,
    FieldError,
    NotFound,
    PreconditionFailed,
    ValidationError,
)
from cultiveat_core.privacy.encryption import encrypt_contact_rows
from cultiveat_core.services.custom_fields import CustomField, CustomFieldService
from cultiveat_core.services.search import refresh_search_docs, search_document
from cultiveat_core.services.tags import TagService, add_tags, initial_tags, insert_missing, tag_ids
from cultiveat_core.services.unit_of_work import UnitOfWork, transaction
from cultiveat_core.services.validation import (
    check_address,
    check_url,
    clean_tags,
    clean_text,
    normalise_email,
    normalise_phone,
    require_name,
)

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

c = tables.contacts

TEXT_FIELDS: dict[str, int] = {
    "position": 200,
    "company": 200,
    "industry": 100,
    "stage": 50,
    "type": 50,
    "channel": 50,
    "notes": 2000,
}
STAGES = ("Hot Lead", "Qualified", "Nurturing", "Cold Lead", "Customer", "Lost")
DEFAULT_STAGE = "Cold Lead"
CONTACT_TYPES = ("Prospect", "Investor", "Partner", "Customer", "Lead")
CHANNELS = ("Webinar", "Newsletter", "Website", "Referral", "Event", "Social", "Import", "Other")
# stage must be one of STAGES; type and channel take other values too (spelled as known ones)
CHOICES: dict[str, tuple[str, ...]] = {"stage": STAGES, "type": CONTACT_TYPES, "channel": CHANNELS}
SEARCHED_FIELDS = {"first_name", "last_name", "email", "company", "position"}
ADDRESS_LIMITS = {"street": 200, "city": 100, "state": 100, "zip": 20, "country": 60}
WRITABLE = (
    "email",
    "first_name",
    "last_name",
    "phone",
    *TEXT_FIELDS,
    "company_size",
    "owner",
    "owner_id",
    "tags",
    "address",
    "social",
    "custom",
)


def company_key(name: str) -> str:
    return " ".join(name.lower().split())


def row_to_contact(
    row: Mapping[Any, Any], tags: Sequence[str] = (), owner: str | None = None
) -> Contact:
    return Contact(
        id=row["id"],
        email=row["email"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        phone=row["phone"],
        position=row["position"],
        company=row["company"],
        company_id=row["company_id"],
        industry=row["industry"],
        company_size=row["company_size"],
        stage=row["stage"],
        type=row["type"],
        channel=row["channel"],
        owner_id=row["owner_id"],
        owner=owner,
        tags=tuple(tags),
        address=Address(**{p: row[f"address_{p}"] for p in ADDRESS_PARTS}),
        social=SocialLinks(**{k: (row["social"] or {}).get(k) for k in SOCIAL_NETWORKS}),
        custom=row["custom"] or {},
        notes=row["notes"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_activity_at=row["last_activity_at"],
        version=row["version"],
    )


def error_at_row(error: FieldError, row: int) -> FieldError:
    return FieldError(error.field, error.message, row)


def contact_values(contact: Contact) -> dict[str, Any]:
    """The comparable field values of a contact, as the API names them."""
    data = contact.as_dict()
    return {k: data[k] for k in data if k in WRITABLE or k == "owner_id"}


class ContactService:
    def __init__(self, crm: CRM) -> None:
        self.crm = crm
        self.custom_fields = CustomFieldService(crm)
        self.tags = TagService(crm)

    # -- reading -----------------------------------------------------------------------------

    def load(self, conn: sa.Connection, ids: Iterable[int]) -> builtins.list[Contact]:
        """Contacts by id (in the given order), with their tags and owner, in two queries."""
        ids = list(ids)
        if not ids:
            return []
        u = tables.users
        rows = (
            conn.execute(
                sa.select(c, u.c.email.label("owner_email"))
                .select_from(c.outerjoin(u, u.c.id == c.c.owner_id))
                .where(c.c.id.in_(ids))
            )
            .mappings()
            .all()
        )
        tag_rows = conn.execute(
            sa.select(tables.contact_tags.c.contact_id, tables.tags.c.name)
            .join(tables.tags, tables.tags.c.id == tables.contact_tags.c.tag_id)
            .where(tables.contact_tags.c.contact_id.in_(ids))
            .order_by(tables.contact_tags.c.created_at, tables.tags.c.name)
        ).all()
        tags: dict[int, builtins.list[str]] = {}
        for contact_id, name in tag_rows:
            tags.setdefault(contact_id, []).append(name)
        by_id = {r["id"]: row_to_contact(r, tags.get(r["id"], ()), r["owner_email"]) for r in rows}
        return [by_id[i] for i in ids if i in by_id]

    def get(self, actor: Actor, contact_id: int, *, uow: UnitOfWork | None = None) -> Contact:
        self.crm.permissions.require(actor, "contacts.read")
        if uow is not None:
            found = self.load(uow.conn, [contact_id])
        else:
            with self.crm.engine.connect() as conn:
                found = self.load(conn, [contact_id])
        if not found:
            raise NotFound(f"contact {contact_id} does not exist")
        return found[0]

    def list(
        self, actor: Actor, *, limit: int = 50, after_id: int | None = None
    ) -> builtins.list[Contact]:
        self.crm.permissions.require(actor, "contacts.read")
        query = sa.select(c.c.id).order_by(c.c.id).limit(max(1, min(limit, 500)))
        if after_id is not None:
            query = query.where(c.c.id > after_id)
        with self.crm.engine.connect() as conn:
            ids = conn.execute(query).scalars().all()
            return self.load(conn, ids)

    def find_by_email(self, conn: sa.Connection, email: str) -> Contact | None:
        try:
            _, key = normalise_email(email)
        except ValueError:
            return None
        contact_id = conn.execute(sa.select(c.c.id).where(c.c.email_key == key)).scalar()
        return self.load(conn, [contact_id])[0] if contact_id is not None else None

    # -- validation --------------------------------------------------------------------------

    def clean(
        self,
        conn: sa.Connection,
        data: Mapping[str, Any],
        *,
        partial: bool,
        definitions: Mapping[str, CustomField] | None = None,
        owners: dict[Any, int | None] | None = None,
    ) -> dict[str, Any]:
        """Validate ``data`` into column values; raise ValidationError listing every problem."""
        if not isinstance(data, Mapping):
            raise ValidationError.field("body", "must be an object of contact fields")
        unknown = sorted(set(data) - set(WRITABLE))
        errors: builtins.list[FieldError] = [
            FieldError(name, f"unknown field; writable fields are: {', '.join(WRITABLE)}")
            for name in unknown
        ]
        values: dict[str, Any] = {}
        if not partial or "email" in data:
            try:
                values["email"], values["email_key"] = normalise_email(data.get("email"))
            except ValueError as exc:
                errors.append(FieldError("email", str(exc)))
        for name in ("first_name", "last_name"):
            if not partial or name in data:
                values[name] = require_name(data.get(name), name, errors)
        for name, limit in TEXT_FIELDS.items():
            if name in data:
                values[name] = clean_text(data[name], name, limit, errors)
        for name, known in CHOICES.items():
            if values.get(name):
                canonical = {k.lower(): k for k in known}.get(values[name].lower())
                if canonical is not None:
                    values[name] = canonical
                elif name == "stage":
                    errors.append(
                        FieldError(
                            "stage",
                            f"{values[name]!r} is not a stage; use one of: " + ", ".join(STAGES),
                        )
                    )
        if not partial and not values.get("stage") and not any(e.field == "stage" for e in errors):
            values["stage"] = DEFAULT_STAGE
        if "company_size" in data:
            size = data["company_size"]
            if size in (None, ""):
                values["company_size"] = None
            elif (
                isinstance(size, bool)
                or not isinstance(size, int | str)
                or not str(size).strip().replace(",", "").isdigit()
            ):
                errors.append(FieldError("company_size", "must be a whole number of employees"))
            else:
                values["company_size"] = int(str(size).strip().replace(",", ""))
        if "owner" in data or "owner_id" in data:
            owner = data.get("owner", data.get("owner_id"))
            if owners is not None and isinstance(owner, int | str) and owner in owners:
                values["owner_id"] = owners[owner]
            else:
                values["owner_id"] = self._owner_id(conn, owner, errors)
                if (
                    owners is not None
                    and isinstance(owner, int | str)
                    and values["owner_id"] is not None
                ):
                    owners[owner] = values["owner_id"]
        if "address" in data:
            address = data["address"] or {}
            if not isinstance(address, Mapping):
                errors.append(
                    FieldError("address", f"must be an object with {', '.join(ADDRESS_PARTS)}")
                )
            else:
                for part in address:
                    if part not in ADDRESS_PARTS:
                        errors.append(
                            FieldError(
                                f"address.{part}", f"unknown part; use {', '.join(ADDRESS_PARTS)}"
                            )
                        )
                parts = {
                    p: clean_text(address.get(p), f"address.{p}", ADDRESS_LIMITS[p], errors)
                    for p in ADDRESS_PARTS
                }
                for part, value in check_address(parts, errors).items():
                    values[f"address_{part}"] = value
        if data.get("phone") not in (None, ""):
            region = values.get("address_country")
            try:
                values["phone"] = normalise_phone(data["phone"], region)
            except ValueError as exc:
                errors.append(FieldError("phone", str(exc)))
        elif "phone" in data:
            values["phone"] = None
        if "social" in data:
            social = data["social"] or {}
            if not isinstance(social, Mapping) or any(k not in SOCIAL_NETWORKS for k in social):
                errors.append(
                    FieldError("social", f"must be an object with {', '.join(SOCIAL_NETWORKS)}")
                )
            else:
                values["social"] = {
                    k: check_url(v, f"social.{k}", errors) if isinstance(v, str) else None
                    for k, v in social.items()
                    if v not in (None, "")
                }
        if "custom" in data:
            if definitions is None:
                definitions = self.custom_fields.all(conn)
            cleaned = CustomFieldService.clean_values(
                definitions, data["custom"], errors, partial=partial
            )
            if cleaned is not None:
                values["custom"] = cleaned
        elif not partial:
            if definitions is None:
                definitions = self.custom_fields.all(conn)
            CustomFieldService.clean_values(definitions, {}, errors, partial=False)
        if "tags" in data:
            values["tags"] = clean_tags(data["tags"], "tags", errors)
        if errors:
            raise ValidationError(errors)
        return values

    def _owner_id(
        self, conn: sa.Connection, owner: Any, errors: builtins.list[FieldError]
    ) -> int | None:
        if owner in (None, ""):
            return None
        u = tables.users
        column = u.c.id if isinstance(owner, int) else u.c.email
        found = conn.execute(sa.select(u.c.id).where(column == owner)).scalar()
        if found is None:
            errors.append(
                FieldError("owner", f"no user {owner!r}; give an existing user's email or id")
            )
        return found

    def _company_id(self, conn: sa.Connection, name: str | None) -> int | None:
        return self._company_ids(conn, [name]).get(company_key(name)) if name else None

    def _company_ids(self, conn: sa.Connection, names: Iterable[str]) -> dict[str, int]:
        """Company ids by key for ``names``, creating the missing companies in one statement."""
        co = tables.companies
        wanted = {company_key(n): n for n in names if n}
        if not wanted:
            return {}
        found = dict(
            conn.execute(sa.select(co.c.name_key, co.c.id).where(co.c.name_key.in_(wanted))).all()
        )
        missing = [
            {"name": wanted[k], "name_key": k, "created_at": utcnow()}
            for k in wanted
            if k not in found
        ]
        if missing:
            insert_missing(conn, co, missing)
            found.update(
                conn.execute(
                    sa.select(co.c.name_key, co.c.id).where(
                        co.c.name_key.in_([m["name_key"] for m in missing])
                    )
                ).all()
            )
        return found

    def _tag_ids(self, conn: sa.Connection, names: Iterable[str]) -> dict[str, int]:
        return tag_ids(conn, names)

    def _set_tags(
        self, conn: sa.Connection, contact_id: int, names: Sequence[str], source: str
    ) -> None:
        ct = tables.contact_tags
        keep = [n.lower() for n in names]
        stale = (
            sa.select(tables.tags.c.id).where(tables.tags.c.name_key.in_(keep)) if keep else None
        )
        delete = ct.delete().where(ct.c.contact_id == contact_id)
        if stale is not None:
            delete = delete.where(ct.c.tag_id.not_in(stale))
        conn.execute(delete)
        add_tags(conn, {contact_id: names}, source)

    def _add_tags(
        self, conn: sa.Connection, names_by_contact: Mapping[int, Sequence[str]], source: str
    ) -> None:
        add_tags(conn, names_by_contact, source)

    # -- writing -----------------------------------------------------------------------------

    def create(
        self, actor: Actor, data: Mapping[str, Any], *, uow: UnitOfWork | None = None
    ) -> Contact:
        self.crm.permissions.require(actor, "contacts.create")
        with transaction(self.crm, actor, uow) as work:
            values = self.clean(work.conn, data, partial=False)
            corrected = self.crm.pm.hook.contact_pre_save(
                crm=self.crm, contact=None, changes=values
            )
            if corrected is not None:
                values = corrected
            existing = work.conn.execute(
                sa.select(c.c.id).where(c.c.email_key == values["email_key"])
            ).scalar()
            if existing is not None:
                raise Conflict(
                    f"a contact with email {values['email']} already exists (id {existing})",
                    existing_id=existing,
                )
            tag_names = values.pop("tags", [])
            values["custom"] = {k: v for k, v in values.get("custom", {}).items() if v is not None}
            if "owner_id" not in values and actor.user_id is not None:
                values["owner_id"] = actor.user_id
            values["company_id"] = self._company_id(work.conn, values.get("company"))
            now = utcnow()
            stored = encrypt_contact_rows(self.crm, [values])[0]  # sensitive fields, phone_key
            inserted = work.conn.execute(
                c.insert().values(
                    **stored, version=1, created_by=actor.user_id, created_at=now, updated_at=now
                )
            ).inserted_primary_key
            assert inserted is not None
            contact_id = int(inserted[0])
            add_tags(work.conn, {contact_id: tag_names}, "manual")
            add_tags(work.conn, {contact_id: initial_tags(values)}, "auto")
            refresh_search_docs(work.conn, [contact_id])
            contact = self.load(work.conn, [contact_id])[0]
            work.audit("contact.create", "contact", contact_id, {"after": contact_values(contact)})
            work.emit("contact_created", contact=contact)
        return contact

    def create_many(
        self,
        actor: Actor,
        items: Sequence[Mapping[str, Any]],
        *,
        source: str = "manual",
        uow: UnitOfWork | None = None,
    ) -> builtins.list[Contact]:
        """Create many contacts in one transaction (all or none); ``contacts_created`` fires once.

        A ``ValidationError`` names the failing item (``row`` is its 1-based position).
        """
        self.crm.permissions.require(actor, "contacts.create")
        with transaction(self.crm, actor, uow) as work:
            rows: builtins.list[dict[str, Any]] = []
            tags: builtins.list[builtins.list[str]] = []
            seen: dict[str, int] = {}
            definitions = self.custom_fields.all(work.conn)
            owners: dict[Any, int | None] = {}
            for index, item in enumerate(items, start=1):
                try:
                    values = self.clean(
                        work.conn, item, partial=False, definitions=definitions, owners=owners
                    )
                except ValidationError as exc:
                    raise ValidationError(
                        errors=[error_at_row(e, index) for e in exc.errors]
                    ) from None
                if values["email_key"] in seen:
                    raise ValidationError(
                        errors=[
                            FieldError(
                                "email",
                                f"duplicate of item {seen[values['email_key']]} in the same batch",
                                index,
                            )
                        ]
                    )
                seen[values["email_key"]] = index
                tags.append(values.pop("tags", []))
                values["custom"] = {
                    k: v for k, v in values.get("custom", {}).items() if v is not None
                }
                values.setdefault("owner_id", actor.user_id)
                rows.append(values)
            clash = work.conn.execute(
                sa.select(c.c.email_key).where(c.c.email_key.in_(list(seen))).limit(1)
            ).scalar()
            if clash is not None:
                raise Conflict(f"a contact with email {clash} already exists (item {seen[clash]})")
            companies = self._company_ids(work.conn, [r.get("company") or "" for r in rows])
            now = utcnow()
            columns = {col.name for col in c.columns} - {"id"}
            full_rows = []
            dialect = work.conn.dialect.name
            for row, row_tags in zip(rows, tags, strict=True):
                row["company_id"] = (
                    companies.get(company_key(row["company"])) if row.get("company") else None
                )
                full = dict.fromkeys(columns)
                full.update(
                    {"social": {}, "custom": {}, **row},
                    version=1,
                    created_by=actor.user_id,
                    created_at=now,
                    updated_at=now,
                )
                full["search_doc"] = search_document(row, [*row_tags, *initial_tags(row)], dialect)
                full_rows.append(full)
            full_rows = encrypt_contact_rows(self.crm, full_rows)
            ids = (
                work.conn.execute(
                    c.insert().returning(c.c.id, sort_by_parameter_order=True), full_rows
                )
                .scalars()
                .all()
            )
            add_tags(work.conn, {cid: t for cid, t in zip(ids, tags, strict=True) if t}, source)
            add_tags(
                work.conn, {cid: initial_tags(r) for cid, r in zip(ids, rows, strict=True)}, "auto"
            )
            contacts = self.load(work.conn, ids)
            work.audit(
                "contact.create_many",
                "contact",
                None,
                {"count": len(ids), "ids": list(ids), "source": source},
            )
            for contact in contacts:
                work.emit("contact_created", contact=contact)
        return contacts

    def update(
        self,
        actor: Actor,
        contact_id: int,
        data: Mapping[str, Any],
        *,
        expected_version: int | None = None,
        uow: UnitOfWork | None = None,
    ) -> Contact:
        """Apply ``data``; with ``expected_version`` (If-Match) a stale write is refused (412)."""
        self.crm.permissions.require(actor, "contacts.update")
        with transaction(self.crm, actor, uow) as work:
            before = self.load(work.conn, [contact_id])
            if not before:
                raise NotFound(f"contact {contact_id} does not exist")
            old = before[0]
            self.crm.permissions.require_contact(actor, "update", old.owner_id)
            if expected_version is not None and expected_version != old.version:
                raise PreconditionFailed(
                    f"contact {contact_id} changed since you read it (version {old.version}, "
                    f"yours {expected_version}); reload it and apply your change again",
                    current_etag=old.etag,
                )
            values = self.clean(work.conn, data, partial=True)
            corrected = self.crm.pm.hook.contact_pre_save(crm=self.crm, contact=old, changes=values)
            if corrected is not None:
                values = corrected
            if "email_key" in values:
                clash = work.conn.execute(
                    sa.select(c.c.id).where(
                        c.c.email_key == values["email_key"], c.c.id != contact_id
                    )
                ).scalar()
                if clash is not None:
                    raise Conflict(
                        f"another contact (id {clash}) already has email {values['email']}",
                        existing_id=clash,
                    )
            tag_names = values.pop("tags", None)
            if "custom" in values:
                merged_custom = {**old.custom, **values["custom"]}
                values["custom"] = {k: v for k, v in merged_custom.items() if v is not None}
            if "social" in values:
                values["social"] = {k: v for k, v in values["social"].items() if v}
            if "company" in values:
                values["company_id"] = self._company_id(work.conn, values["company"])
            result = work.conn.execute(
                c.update()
                .where(c.c.id == contact_id, c.c.version == old.version)
                .values(
                    **encrypt_contact_rows(self.crm, [values])[0],
                    version=old.version + 1,
                    updated_at=utcnow(),
                )
            )
            if result.rowcount != 1:
                raise PreconditionFailed(
                    f"contact {contact_id} was changed by someone else; reload it"
                )
            if tag_names is not None:
                self._set_tags(work.conn, contact_id, tag_names, "manual")
            if tag_names is not None or SEARCHED_FIELDS & set(values):
                refresh_search_docs(work.conn, [contact_id])
            new = self.load(work.conn, [contact_id])[0]
            before_values, after_values = contact_values(old), contact_values(new)
            changes = {
                k: (before_values[k], after_values[k])
                for k in after_values
                if before_values.get(k) != after_values[k]
            }
            if changes:
                work.audit(
                    "contact.update",
                    "contact",
                    contact_id,
                    {k: {"before": b, "after": a} for k, (b, a) in changes.items()},
                )
                work.emit("contact_updated", contact=new, changes=changes)
        return new

    def delete(self, actor: Actor, contact_id: int, *, uow: UnitOfWork | None = None) -> Contact:
        self.crm.permissions.require(actor, "contacts.delete")
        with transaction(self.crm, actor, uow) as work:
            found = self.load(work.conn, [contact_id])
            if not found:
                raise NotFound(f"contact {contact_id} does not exist")
            self.crm.permissions.require_contact(actor, "delete", found[0].owner_id)
            work.conn.execute(c.delete().where(c.c.id == contact_id))
            work.audit(
                "contact.delete", "contact", contact_id, {"before": contact_values(found[0])}
            )
            work.emit("contact_deleted", contact=found[0])
        return found[0]
