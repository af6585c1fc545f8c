"""Running an import: stream records, validate each, dedupe, write in batches.

Rows are parsed and validated in Python with precompiled rules (no SQL, no event per row).
Each batch (5,000 rows by default) is one transaction: one lookup of the batch's email keys
(duplicates against existing contacts, and against earlier rows of the file, which earlier
batches committed), updates of duplicates per ``on_duplicate``, the new contacts with their
search documents and tag links by COPY (PostgreSQL) or executemany (SQLite), the batch's
audit record, its events (fired once after the commit as ``contacts_created`` /
``contacts_updated`` with the whole batch) and the import's progress (``rows_done``), so a
crash loses at most the batch in flight and a rerun resumes after the last committed row.
A dry run does the same inside one transaction and rolls it back.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from cultiveat_core.db import tables
from cultiveat_core.db.metadata import utcnow
from cultiveat_core.domain import Actor, Address, Contact, SocialLinks
from cultiveat_core.domain.contacts import ADDRESS_PARTS, SOCIAL_NETWORKS
from cultiveat_core.errors import ValidationError
from cultiveat_core.hookcalls import implementations
from cultiveat_core.importing.cleaning import RowCleaner
from cultiveat_core.importing.mappers import IGNORE, SOURCES, apply_mapping_file, choose_mapper
from cultiveat_core.importing.reader import FileProblem, open_csv
from cultiveat_core.importing.rows import RowBuilder, RowInput, row_problems
from cultiveat_core.privacy.encryption import encrypt_contact_rows
from cultiveat_core.services.contacts import company_key
from cultiveat_core.services.search import refresh_search_docs, search_document
from cultiveat_core.services.tags import add_tags, initial_tags, tag_ids
from cultiveat_core.services.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

c = tables.contacts
ct = tables.contact_tags
imp = tables.imports
ON_DUPLICATE = ("skip", "update", "merge")
BATCH = 5000
CACHE_MAX = 100_000
MAX_STORED_ERRORS = 1000
Progress = Callable[[int, int, int], None]  # bytes read, bytes in total, rows done
MERGEABLE = (
    "phone",
    "position",
    "company",
    "industry",
    "company_size",
    "stage",
    "type",
    "channel",
    "owner_id",
    "address_street",
    "address_city",
    "address_state",
    "address_zip",
    "address_country",
    "notes",
    "first_name",
    "last_name",
)
NO_ADDRESS = Address()
NO_SOCIAL = SocialLinks()
# (column, the input field that fills it)
MERGEABLE_FIELDS = [
    (
        name,
        "owner"
        if name == "owner_id"
        else name.split("_", 1)[0]
        if name.startswith("address_")
        else name,
    )
    for name in MERGEABLE
]


@attrs.frozen
class ImportOptions:
    source: str = "auto"
    mapping: Mapping[str, Any] | None = None
    on_duplicate: str = "skip"
    dry_run: bool = False
    batch_size: int = BATCH

    def check(self) -> None:
        if self.on_duplicate not in ON_DUPLICATE:
            raise ValidationError.field(
                "on_duplicate", f"must be one of: {', '.join(ON_DUPLICATE)}"
            )
        if not 1 <= self.batch_size <= 50_000:
            raise ValidationError.field("batch_size", "must be 1 to 50000")

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "mapping": dict(self.mapping) if self.mapping else None,
            "on_duplicate": self.on_duplicate,
            "dry_run": self.dry_run,
        }


@attrs.define
class ImportResult:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    errors: list[dict[str, Any]] = attrs.field(factory=list)
    error_count: int = 0
    rows: int = 0
    source: str | None = None
    ignored_columns: list[str] = attrs.field(factory=list)
    dry_run: bool = False

    def add_errors(self, problems: Iterable[dict[str, Any]]) -> None:
        for problem in problems:
            self.error_count += 1
            if len(self.errors) < MAX_STORED_ERRORS:
                self.errors.append(problem)

    def as_dict(self) -> dict[str, Any]:
        data = {
            "created": self.created,
            "updated": self.updated,
            "skipped": self.skipped,
            "errors": self.errors,
            "error_count": self.error_count,
            "rows": self.rows,
            "source": self.source,
            "ignored_columns": self.ignored_columns,
        }
        if self.dry_run:
            data["dry_run"] = True
        return data


def prepare(
    crm: CRM, stream: IO[bytes], options: ImportOptions
) -> tuple[Any, Any, dict[int, str], list[str]]:
    """Open the file and settle its mapping; ``FileProblem`` for what blocks the whole file."""
    options.check()
    source_names = set(SOURCES) | {
        m.name
        for m in crm.registry.extra(crm, "register_import_mappers")  # noqa: S610
    }
    if options.source not in source_names:
        raise ValidationError.field("source", f"must be one of: {', '.join(sorted(source_names))}")
    csv_source = open_csv(stream)
    headers = csv_source.headers
    mapper = choose_mapper(crm, options.source, headers)
    columns = mapper.map(headers)
    if options.mapping:
        columns = apply_mapping_file(options.mapping, headers, columns)
    targets = {t for t in columns.values() if t != IGNORE}
    if "email" not in targets:
        raise FileProblem(
            "no column holds the email address (columns: "
            + ", ".join(headers)
            + "); name it Email or give a mapping file"
        )
    if not ({"first_name", "last_name"} <= targets or "name" in targets):
        raise FileProblem(
            "first and last name columns are required (seed 003); name them First Name and "
            "Last Name, or map a full-name column with a mapping file"
        )
    custom = {t.removeprefix("custom.") for t in targets if t.startswith("custom.")}
    unknown = sorted(custom - set(crm.contacts.custom_fields.all()))
    if unknown:
        raise FileProblem(
            f"custom field(s) {', '.join(unknown)} are not defined; define them first"
        )
    ignored = [h for i, h in enumerate(headers) if i not in columns or columns[i] == IGNORE]
    return csv_source, mapper, {i: t for i, t in columns.items() if t != IGNORE}, ignored


def run_import(
    crm: CRM,
    actor: Actor,
    stream: IO[bytes],
    *,
    size: int,
    options: ImportOptions,
    import_id: str | None = None,
    resume: ImportResult | None = None,
    resume_after: int = 0,
    progress: Progress | None = None,
) -> ImportResult:
    """Import contacts from ``stream``; see the module docstring for the transaction rules."""
    crm.permissions.require(actor, "contacts.import")
    csv_source, mapper, columns, ignored = prepare(crm, stream, options)
    result = resume or ImportResult()
    result.source, result.ignored_columns, result.dry_run = mapper.name, ignored, options.dry_run
    writer = BatchWriter(crm, actor, options, import_id)
    builder = RowBuilder(csv_source.headers, columns, mapper)
    batch: list[RowInput] = []
    last_row = resume_after

    def flush(work: UnitOfWork) -> None:
        nonlocal batch
        writer.write(work, batch, result)
        result.rows = last_row
        if import_id is not None and not options.dry_run:
            work.conn.execute(
                imp.update()
                .where(imp.c.id == import_id)
                .values(
                    rows_done=last_row,
                    created=result.created,
                    updated=result.updated,
                    skipped=result.skipped,
                    errors=result.errors,
                    error_count=result.error_count,
                    updated_at=utcnow(),
                    source=result.source,
                )
            )
        batch = []

    def report() -> None:
        # after the batch's commit (a dry run holds one transaction: it reports at the end only)
        if progress is not None and not options.dry_run:
            progress(csv_source.counter.count, size, last_row)

    def write_batch(session: _Session) -> None:
        # a contact created meanwhile with an email of this batch (or a tag or company deleted
        # meanwhile) fails the batch's statements: it was rolled back, so redo it once
        counts = (result.created, result.updated, result.skipped, result.error_count)
        errors = len(result.errors)
        try:
            session.run(flush)
        except (sa.exc.IntegrityError, crm.engine.dialect.loaded_dbapi.IntegrityError):
            # (COPY runs on the driver's cursor: its error is the driver's own)
            if session.work is not None:  # a dry run's single transaction is gone: give up
                raise
            result.created, result.updated, result.skipped, result.error_count = counts
            del result.errors[errors:]
            writer.forget()
            session.run(flush)

    headers, encoding, batch_size = csv_source.headers, csv_source.encoding, options.batch_size
    build = builder.build
    with _session(crm, actor, options.dry_run) as session:
        for record in csv_source.rows:
            if record.number <= resume_after:
                continue
            last_row = record.number
            problems = row_problems(record, headers, encoding)
            if problems:
                result.add_errors(problems)
                continue
            batch.append(build(record))
            if len(batch) >= batch_size:
                write_batch(session)
                report()
        write_batch(session)
    result.rows = last_row
    if progress is not None:
        progress(size, size, last_row)
    return result


class _Session:
    """Per-batch transactions, or one rolled-back transaction for a dry run."""

    def __init__(self, crm: CRM, actor: Actor, dry_run: bool) -> None:
        self.crm, self.actor, self.dry_run = crm, actor, dry_run
        self.conn: sa.Connection | None = None
        self.work: UnitOfWork | None = None

    def __enter__(self) -> _Session:
        if self.dry_run:
            self.conn = self.crm.engine.connect()
            if self.conn.dialect.name == "sqlite":
                self.conn.info["immediate"] = True
            self.conn.begin()
            self.work = UnitOfWork(self.crm, self.actor, self.conn)
        return self

    def run(self, step: Callable[[UnitOfWork], None]) -> None:
        if self.work is not None:
            step(self.work)
            return
        with self.crm.transaction(self.actor) as work:
            step(work)

    def __exit__(self, *exc: object) -> None:
        if self.conn is not None:
            self.conn.rollback()
            self.conn.close()


def _session(crm: CRM, actor: Actor, dry_run: bool) -> _Session:
    return _Session(crm, actor, dry_run)


class BatchWriter:
    """Writes one batch of parsed rows inside the caller's transaction, set-based.

    Rows are validated in Python (``RowCleaner``, falling back to ``ContactService.clean``),
    looked up by email key in one query, and new contacts get ids from the sequence (or after
    the highest id on SQLite, which holds its write lock) so contacts and their tag links go
    in with COPY (PostgreSQL) or executemany (SQLite) without reading anything back. Company,
    tag and owner ids are cached across batches (at most ``CACHE_MAX`` entries each).
    """

    def __init__(
        self, crm: CRM, actor: Actor, options: ImportOptions, import_id: str | None
    ) -> None:
        self.crm, self.actor, self.options, self.import_id = crm, actor, options, import_id
        self.definitions: Any = None
        self.cleaner: RowCleaner | None = None
        self.owners: dict[Any, int | None] = {}
        self.companies: dict[str, int] = {}
        self.tags: dict[str, int] = {}
        self.owner_emails: dict[int, str | None] = {}
        self.dialect = crm.engine.dialect.name
        self.columns = [col.name for col in c.columns]
        self.listen_created = any(
            implementations(crm.pm, n) for n in ("contact_created", "contacts_created")
        )
        self.listen_updated = any(
            implementations(crm.pm, n) for n in ("contact_updated", "contacts_updated")
        )
        from cultiveat_core.defaults import dedupe

        # the default matcher is the email lookup done here set-based; only plugins' run per row
        self.matchers = [
            i
            for i in implementations(crm.pm, "match_existing_contact")
            if i.function is not dedupe.match_existing_contact
        ]

    def forget(self) -> None:
        """Drop the cached ids (after a rolled-back batch: they may not exist any more)."""
        self.companies.clear()
        self.tags.clear()

    def write(self, work: UnitOfWork, batch: Sequence[RowInput], result: ImportResult) -> None:
        if not batch:
            return
        conn = work.conn
        if self.cleaner is None:
            self.definitions = self.crm.contacts.custom_fields.all(conn)
            self.cleaner = RowCleaner(self.definitions, self.owners)
        fast = self.cleaner.fast
        cleaned: list[tuple[RowInput, dict[str, Any]]] = []
        for row in batch:
            values = fast(row.data)
            if values is None:
                try:
                    values = self.crm.contacts.clean(
                        conn,
                        row.data,
                        partial=False,
                        definitions=self.definitions,
                        owners=self.owners,
                    )
                except ValidationError as exc:
                    result.add_errors(
                        {"row": row.number, "column": row.column(e.field), "message": e.message}
                        for e in exc.errors
                    )
                    continue
            cleaned.append((row, values))
        created_ids: list[int] = []
        updated_ids: list[int] = []
        created: list[Contact] = []
        for round_items in _rounds(cleaned):
            existing = self._existing(conn, [v["email_key"] for _, v in round_items])
            if self.matchers:
                self._plugin_matches(round_items, existing)
            new = [(r, v) for r, v in round_items if v["email_key"] not in existing]
            dupes = [
                (r, v, existing[v["email_key"]])
                for r, v in round_items
                if v["email_key"] in existing
            ]
            if self.options.on_duplicate == "skip":
                result.skipped += len(dupes)
            elif dupes:
                updated_ids += self._update(conn, dupes)
            if new:
                ids, contacts = self._insert(conn, new)
                created_ids += ids
                created += contacts
        result.created += len(created_ids)
        result.updated += len(updated_ids)
        refresh_search_docs(conn, updated_ids)  # new rows were inserted with theirs
        work.audit(
            "contact.import",
            "import",
            self.import_id,
            {
                "rows": [batch[0].number, batch[-1].number],
                "source": self.options.source,
                "on_duplicate": self.options.on_duplicate,
                "created_ids": created_ids,
                "updated_ids": updated_ids,
            },
        )
        # one event list per batch: the dispatcher fires contacts_created / contacts_updated
        # once with the whole batch (and the per-item form only for plugins implementing it)
        for contact in created:
            work.emit("contact_created", contact=contact)
        if self.listen_updated and updated_ids:
            for contact in self.crm.contacts.load(conn, updated_ids):
                work.emit(
                    "contact_updated", contact=contact, changes={"import": (None, self.import_id)}
                )

    def _existing(self, conn: sa.Connection, keys: list[str]) -> dict[str, int]:
        """Contact ids by email key for ``keys``: one statement with one parameter."""
        if self.dialect == "postgresql":
            query = "SELECT email_key, id FROM core_contacts WHERE email_key = ANY(:keys)"
            params: dict[str, Any] = {"keys": keys}
        else:
            query = (
                "SELECT email_key, id FROM core_contacts "
                "WHERE email_key IN (SELECT value FROM json_each(:keys))"
            )
            params = {"keys": json.dumps(keys)}
        return {key: id_ for key, id_ in conn.execute(sa.text(query), params)}

    def _plugin_matches(
        self, items: Sequence[tuple[RowInput, dict[str, Any]]], existing: dict[str, int]
    ) -> None:
        for _, values in items:
            if values["email_key"] in existing:
                continue
            match = self.crm.pm.hook.match_existing_contact(crm=self.crm, candidate=dict(values))
            if match is not None:
                existing[values["email_key"]] = match.id

    def _company_ids(self, conn: sa.Connection, names: Iterable[str | None]) -> dict[str, int]:
        """Company ids by key (cached; the missing companies created in one statement)."""
        wanted = {company_key(n): n for n in names if n}
        missing = [n for k, n in wanted.items() if k not in self.companies]
        if missing:
            if len(self.companies) > CACHE_MAX:
                self.companies.clear()
                missing = list(wanted.values())
            if self.dialect == "postgresql":
                # one statement: create what is missing, read back the new and the existing
                keys = [company_key(n) for n in missing]
                found: dict[str, int] = dict(
                    conn.execute(
                        sa.text(
                            "WITH given AS (SELECT DISTINCT ON (k) n, k FROM unnest("
                            "CAST(:names AS text[]), CAST(:keys AS text[])) AS g(n, k)), "
                            "added AS (INSERT INTO core_companies (name, name_key, created_at) "
                            "SELECT n, k, :now FROM given ON CONFLICT DO NOTHING "
                            "RETURNING name_key, id) "
                            "SELECT name_key, id FROM added UNION ALL "
                            "SELECT co.name_key, co.id FROM core_companies co "
                            "JOIN given ON given.k = co.name_key"
                        ),
                        {"names": missing, "keys": keys, "now": utcnow()},
                    ).all()
                )
                self.companies.update(found)
                missing = [n for n in missing if company_key(n) not in found]
            if missing:  # SQLite, or created by another transaction since this one began
                self.companies.update(self.crm.contacts._company_ids(conn, missing))
        return self.companies

    def _tag_ids(self, conn: sa.Connection, names: Iterable[str]) -> dict[str, int]:
        names = set(names)
        missing = {n for n in names if n.lower() not in self.tags}
        if missing:
            if len(self.tags) > CACHE_MAX:
                self.tags.clear()
                missing = names
            self.tags.update(tag_ids(conn, missing))
        return self.tags

    def _allocate_ids(self, conn: sa.Connection, count: int) -> list[int]:
        if self.dialect == "postgresql":
            return list(
                conn.execute(
                    sa.text(
                        "SELECT nextval(pg_get_serial_sequence('core_contacts', 'id')) "
                        "FROM generate_series(1, :n)"
                    ),
                    {"n": count},
                ).scalars()
            )
        # SQLite: the transaction holds the write lock; rowids continue after the highest
        top = conn.execute(sa.select(sa.func.max(c.c.id))).scalar() or 0
        return list(range(top + 1, top + 1 + count))

    def _insert(
        self, conn: sa.Connection, items: Sequence[tuple[RowInput, dict[str, Any]]]
    ) -> tuple[list[int], list[Contact]]:
        now = utcnow()
        actor_id = self.actor.user_id
        companies = self._company_ids(conn, [v.get("company") for _, v in items])
        ids = self._allocate_ids(conn, len(items))
        tag_ids_ = self._tag_ids(
            conn,
            {t for _, v in items for t in v.get("tags") or ()}
            | {t for _, v in items for t in initial_tags(v)},
        )
        rows: list[dict[str, Any]] = []
        links: list[tuple[int, int, str]] = []
        contacts: list[Contact] = []
        if self.listen_created:
            self._owner_emails(conn, {v.get("owner_id", actor_id) for _, v in items})
        for contact_id, (_, values) in zip(ids, items, strict=True):
            given_tags = values.get("tags") or []
            auto_tags = initial_tags(values)
            custom = {k: v for k, v in (values.get("custom") or {}).items() if v is not None}
            company = values.get("company")
            row = {
                **values,
                "id": contact_id,
                "custom": custom,
                "social": values.get("social") or {},
                "owner_id": values.get("owner_id", actor_id),
                "company_id": companies.get(company_key(company)) if company else None,
                "version": 1,
                "created_by": actor_id,
                "created_at": now,
                "updated_at": now,
                "search_doc": search_document(values, [*given_tags, *auto_tags], self.dialect),
            }
            row.pop("tags", None)
            rows.append(row)
            seen: set[str] = set()
            row_tags: list[str] = []
            for names, source in ((given_tags, "import"), (auto_tags, "auto")):
                for name in names:
                    key = name.lower()
                    if key not in seen:
                        seen.add(key)
                        links.append((contact_id, tag_ids_[key], source))
                        row_tags.append(name)
            if self.listen_created:
                contacts.append(self._contact(row, row_tags))
        # phone and notes encrypted when keys are configured, the phone's blind index filled
        rows = encrypt_contact_rows(self.crm, rows)
        if self.dialect == "postgresql":
            self._copy(conn, rows, links, now)
        else:
            self._executemany(conn, rows, links, now)
        return ids, contacts

    def _executemany(
        self,
        conn: sa.Connection,
        rows: list[dict[str, Any]],
        links: list[tuple[int, int, str]],
        now: Any,
    ) -> None:
        """SQLite: one executemany per table on the driver's cursor, values in the form the
        column types store them (the batch's timestamp converted once, JSON serialised here;
        phone and notes were encrypted by ``encrypt_contact_rows``)."""
        dialect = conn.dialect
        stamp = c.c.created_at.type.bind_processor(dialect)
        json_value = c.c.custom.type.dialect_impl(dialect).bind_processor(dialect)
        assert stamp is not None and json_value is not None
        when = stamp(now)
        empty = json_value({})
        names = self.columns
        placeholders = ", ".join("?" for _ in names)
        params = []
        for row in rows:
            row["social"] = json_value(row["social"]) if row["social"] else empty
            row["custom"] = json_value(row["custom"]) if row["custom"] else empty
            row["created_at"] = row["updated_at"] = when
            params.append(tuple([row.get(n) for n in names]))
        quoted = ", ".join(f'"{n}"' for n in names)
        conn.exec_driver_sql(f"INSERT INTO core_contacts ({quoted}) VALUES ({placeholders})", params)
        if links:
            conn.exec_driver_sql(
                "INSERT INTO core_contact_tags (contact_id, tag_id, source, created_at) "
                "VALUES (?, ?, ?, ?)",
                [(cid, tid, src, when) for cid, tid, src in links],
            )

    def _copy(
        self,
        conn: sa.Connection,
        rows: list[dict[str, Any]],
        links: list[tuple[int, int, str]],
        now: Any,
    ) -> None:
        """COPY the new contacts and their tag links straight into their tables (text format,
        the batch's lines built here and sent in one piece)."""
        raw: Any = conn.connection.dbapi_connection
        assert raw is not None
        names = self.columns
        quoted = ", ".join(f'"{n}"' for n in names)
        stamp = now.isoformat()
        lines = []
        for row in rows:
            row["social"] = json.dumps(row["social"]) if row["social"] else "{}"
            row["custom"] = json.dumps(row["custom"]) if row["custom"] else "{}"
            row["created_at"] = row["updated_at"] = stamp
            lines.append("\t".join([_copy_text(row.get(n)) for n in names]))
        lines.append("")
        with raw.cursor() as cursor:
            with cursor.copy(f"COPY core_contacts ({quoted}) FROM STDIN") as copy:
                copy.write("\n".join(lines))
            if links:
                tail = f"\t{stamp}\n"
                with cursor.copy(
                    "COPY core_contact_tags (contact_id, tag_id, source, created_at) FROM STDIN"
                ) as copy:
                    copy.write("".join(f"{c_}\t{t_}\t{s_}{tail}" for c_, t_, s_ in links))

    def _contact(self, row: dict[str, Any], tags: list[str]) -> Contact:
        """The new contact as ``load`` would return it (for the batch's events), without a
        query."""
        social = row["social"]
        address = (
            Address(**{p: row.get(f"address_{p}") for p in ADDRESS_PARTS})
            if row.get("address_country") or row.get("address_city") or row.get("address_street")
            or row.get("address_state") or row.get("address_zip")
            else NO_ADDRESS
        )
        get = row.get
        return Contact(
            id=row["id"],
            email=row["email"],
            first_name=row["first_name"],
            last_name=row["last_name"],
            phone=get("phone"),
            position=get("position"),
            company=get("company"),
            company_id=row["company_id"],
            industry=get("industry"),
            company_size=get("company_size"),
            stage=get("stage"),
            type=get("type"),
            channel=get("channel"),
            owner_id=row["owner_id"],
            owner=self.owner_emails.get(row["owner_id"]) if row["owner_id"] is not None else None,
            tags=tuple(tags),
            address=address,
            social=SocialLinks(**{k: social.get(k) for k in SOCIAL_NETWORKS}) if social else NO_SOCIAL,
            custom=row["custom"],
            notes=get("notes"),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            version=1,
        )

    def _owner_emails(self, conn: sa.Connection, owner_ids: set[Any]) -> None:
        """Cache the owners' emails (the ``owner`` of the contacts in the events)."""
        missing = {i for i in owner_ids if i is not None} - set(self.owner_emails)
        if missing:
            u = tables.users
            found = dict(conn.execute(sa.select(u.c.id, u.c.email).where(u.c.id.in_(missing))).all())
            self.owner_emails.update({i: found.get(i) for i in missing})

    def _update(
        self, conn: sa.Connection, items: Sequence[tuple[RowInput, dict[str, Any], int]]
    ) -> list[int]:
        """Apply duplicates to the contacts they match: ``update`` overwrites with the file's
        values, ``merge`` only fills what is empty; tags are added either way."""
        ids = [cid for _, _, cid in items]
        if self.dialect == "postgresql":
            condition = c.c.id == sa.any_(sa.bindparam("ids", ids, type_=ARRAY(sa.Integer)))
        else:
            listed = sa.func.json_each(sa.bindparam("ids", json.dumps(ids))).table_valued("value")
            condition = c.c.id.in_(sa.select(listed.c.value))
        selected = sa.select(c).where(condition)
        current = {r["id"]: r for r in conn.execute(selected).mappings()}
        overwrite = self.options.on_duplicate == "update"
        companies = self._company_ids(conn, [v.get("company") for _, v, _ in items])
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        changes: list[dict[str, Any]] = []
        tags: dict[int, list[str]] = {}
        now = utcnow()
        for row, values, contact_id in items:
            old = current[contact_id]
            change: dict[str, Any] = {}
            for name, field in MERGEABLE_FIELDS:
                if field not in row.provided or values.get(name) in (None, ""):
                    continue
                if overwrite or old[name] in (None, ""):
                    change[name] = values[name]
            if "company" in change:
                change["company_id"] = companies.get(company_key(change["company"]))
            for name in ("custom", "social"):
                if name in row.provided and values.get(name):
                    given = {k: v for k, v in values[name].items() if v is not None}
                    change[name] = (
                        {**(old[name] or {}), **given}
                        if overwrite
                        else {**given, **(old[name] or {})}
                    )
            if values.get("tags"):
                tags[contact_id] = values["tags"]
            change.update(b_id=contact_id, version=old["version"] + 1, updated_at=now)
            changes.append(change)
        for change in encrypt_contact_rows(self.crm, changes):  # phone_key follows the phone
            groups.setdefault(tuple(sorted(change)), []).append(change)
        for keys, params in groups.items():
            columns: dict[str, Any] = {k: sa.bindparam(k) for k in keys if k != "b_id"}
            conn.execute(c.update().where(c.c.id == sa.bindparam("b_id")).values(**columns), params)
        add_tags(conn, tags, "import")
        return ids


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: Any) -> str:
    """One value in COPY's text format (``\\N`` for NULL, backslash escapes)."""
    if value is None:
        return "\\N"
    if isinstance(value, str):
        if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
            return value.translate(_COPY_ESCAPES)
        return value
    return str(value)


def _rounds(
    items: Sequence[tuple[RowInput, dict[str, Any]]],
) -> list[list[tuple[RowInput, dict[str, Any]]]]:
    """Split a batch so each email appears once per round (later rows see earlier ones)."""
    if len({v["email_key"] for _, v in items}) == len(items):
        return [list(items)] if items else []
    rounds: list[list[tuple[RowInput, dict[str, Any]]]] = []
    seen: list[set[str]] = []
    for item in items:
        key = item[1]["email_key"]
        for index, keys in enumerate(seen):
            if key not in keys:
                keys.add(key)
                rounds[index].append(item)
                break
        else:
            seen.append({key})
            rounds.append([item])
    return rounds
