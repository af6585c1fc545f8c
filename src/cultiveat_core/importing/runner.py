"""Running an import: stream records, validate each, dedupe, write in batches.

Two threads share the work: the reader (``BatchReader``) parses records, validates them with
precompiled rules and prepares what each new contact's insert needs that does not depend on
the database (stored cells, COPY text, search document, encrypted phone and notes, the
event contact), at most ``BatchReader.AHEAD`` batches ahead; the caller's thread writes the
batches, one after the other. Each batch (5,000 rows by default) is one transaction: one
lookup of the batch's email keys (duplicates against existing contacts, and against earlier
rows of the file, which earlier batches committed), updates of duplicates per
``on_duplicate``, the new contacts with their search documents and tag links by COPY
(PostgreSQL) or executemany (SQLite), the batch's audit record, its events (fired once after
the commit as ``contacts_created`` / ``contacts_updated`` with the whole batch) and the
import's progress (``rows_done``), so a crash loses at most the batch in flight and a rerun
resumes after the last committed row. A dry run does the same inside one transaction and
rolls it back.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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
    writer.load_definitions(crm.contacts.custom_fields.all())
    builder = RowBuilder(csv_source.headers, columns, mapper)

    def flush(work: UnitOfWork, batch: Batch) -> None:
        result.add_errors(batch.problems)  # the rows that could not be read, in file order
        writer.write(work, batch, result)
        result.rows = batch.last_row
        if import_id is not None and not options.dry_run:
            work.conn.execute(
                imp.update()
                .where(imp.c.id == import_id)
                .values(
                    rows_done=batch.last_row,
                    created=result.created,
                    updated=result.updated,
                    skipped=result.skipped,
                    errors=result.errors,
                    error_count=result.error_count,
                    updated_at=utcnow(),
                    source=result.source,
                )
            )

    def write_batch(session: _Session, batch: Batch) -> None:
        # a contact created meanwhile with an email of this batch (or a tag or company deleted
        # meanwhile) fails the batch's statements: it was rolled back, so redo it once
        counts = (result.created, result.updated, result.skipped, result.error_count)
        errors = len(result.errors)
        try:
            session.run(lambda work: flush(work, batch))
        except (sa.exc.IntegrityError, crm.engine.dialect.loaded_dbapi.IntegrityError):
            # (COPY runs on the driver's cursor: its error is the driver's own)
            if session.work is not None:  # a dry run's single transaction is gone: give up
                raise
            result.created, result.updated, result.skipped, result.error_count = counts
            del result.errors[errors:]
            writer.forget()
            session.run(lambda work: flush(work, batch))

    reader = BatchReader(
        csv_source,
        builder,
        writer,
        options.batch_size,
        resume_after,
        threaded=crm.engine.dialect.name != "sqlite",
    )
    last_row = resume_after
    with _session(crm, actor, options.dry_run) as session, reader:
        # on PostgreSQL the reader thread prepares the next batch while this one is written
        for batch in reader:
            write_batch(session, batch)
            last_row = batch.last_row
            # after the batch's commit (a dry run holds one transaction: it reports at the end)
            if progress is not None and not options.dry_run and not batch.final:
                progress(batch.bytes_read, size, last_row)
    result.rows = last_row
    if progress is not None:
        progress(size, size, last_row)
    return result


@attrs.define
class Batch:
    """A batch as the reader thread hands it over: its rows (validated by the fast path, or
    left to the full validation), the problems of the records before and among them that
    could not be read, the last record number it covers and the bytes read so far."""

    rows: list[Prepared]
    problems: list[dict[str, Any]]
    last_row: int
    bytes_read: int
    final: bool = False


@attrs.define
class Prepared:
    """One parsed row: its cleaned values and what its insert needs, when the fast path
    vouched for it (``values`` None: the writer runs the full validation)."""

    row: RowInput
    values: dict[str, Any] | None = None
    parts: InsertParts | None = None


@attrs.define
class InsertParts:
    """Everything about a new contact that does not depend on the database: its stored cells
    (encrypted, COPY-escaped on PostgreSQL) with the id, company id and timestamps left to
    the writer, its tag links by tag key, and its event ``Contact`` (when someone listens)."""

    cells: list[Any]
    company_key: str | None
    tag_names: list[str]
    links: list[tuple[str, str]]
    contact: Contact | None


_DONE = object()


class BatchReader:
    """Parses, validates and prepares batches, in a thread (``threaded``) at most ``AHEAD``
    batches ahead of the writer (bounded memory), or in the writer's thread between its
    batches; the writer iterates over them. An exception while reading is raised to the
    writer after the batches before it; when the writer stops, so does the thread.

    Threaded only where the database works in another process (PostgreSQL): SQLite's
    statements run in this process and hand the GIL back and forth once per row, so a busy
    reader thread there makes every row of ``executemany`` wait for it (measured: twice the
    time)."""

    AHEAD = 1

    def __init__(
        self,
        source: Any,
        builder: RowBuilder,
        writer: BatchWriter,
        batch_size: int,
        resume_after: int,
        *,
        threaded: bool,
    ) -> None:
        self.source, self.builder, self.writer = source, builder, writer
        self.batch_size, self.resume_after = batch_size, resume_after
        self.threaded = threaded
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=self.AHEAD)
        self.stopped = threading.Event()
        context = contextvars.copy_context()
        self.thread = threading.Thread(
            target=context.run, args=(self._run,), name="cultiveat-import-reader", daemon=True
        )

    def __enter__(self) -> BatchReader:
        if self.threaded:
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.threaded:
            return
        self.stopped.set()
        while self.thread.is_alive():
            with contextlib.suppress(queue.Empty):  # unblock a reader waiting on a full queue
                self.queue.get(timeout=0.05)
        self.thread.join()

    def __iter__(self) -> Iterator[Batch]:
        if not self.threaded:
            yield from self._batches()
            return
        while True:
            item = self.queue.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def _put(self, item: Any) -> bool:
        while not self.stopped.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for batch in self._batches():
                if not self._put(batch):
                    return
            self._put(_DONE)
        except BaseException as exc:  # handed to the writer, which raises it
            self._put(exc)

    def _batches(self) -> Iterator[Batch]:
        source, build = self.source, self.builder.build
        headers, encoding = source.headers, source.encoding
        prepare_rows, batch_size = self.writer.prepare_rows, self.batch_size
        rows: list[RowInput] = []
        problems: list[dict[str, Any]] = []
        last_row = self.resume_after
        for record in source.rows:
            if record.number <= self.resume_after:
                continue
            last_row = record.number
            found = row_problems(record, headers, encoding)
            if found:
                problems += found
                continue
            rows.append(build(record))
            if len(rows) >= batch_size:
                yield Batch(prepare_rows(rows), problems, last_row, source.counter.count)
                rows, problems = [], []
        yield Batch(prepare_rows(rows), problems, last_row, source.counter.count, final=True)


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
        # the cells the writer fills in: id, company id and the batch's timestamps
        self.slots = tuple(
            self.columns.index(n) for n in ("id", "company_id", "created_at", "updated_at")
        )
        dialect = crm.engine.dialect
        stamp = c.c.created_at.type.bind_processor(dialect)
        json_value = c.c.custom.type.dialect_impl(dialect).bind_processor(dialect)
        self.stamp: Callable[[Any], Any] = stamp or (lambda value: value)
        self.json_value: Callable[[Any], Any] = json_value or (lambda value: value)
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

    def load_definitions(self, definitions: Any) -> None:
        """The custom field definitions the rows are validated against (read once)."""
        self.definitions = definitions
        self.cleaner = RowCleaner(definitions, self.owners)

    def prepare_rows(self, rows: Sequence[RowInput]) -> list[Prepared]:
        """The reader thread's share (no SQL): the fast validation, and for the rows it
        vouches for everything their insert needs but the ids. The rest is left to the
        writer's full validation."""
        assert self.cleaner is not None
        fast = self.cleaner.fast
        prepared = [Prepared(row, fast(row.data)) for row in rows]
        ready = [p for p in prepared if p.values is not None]
        for item, parts in zip(
            ready, self.insert_parts([p.values for p in ready if p.values is not None]), strict=True
        ):
            item.parts = parts
        return prepared

    def write(self, work: UnitOfWork, batch: Batch, result: ImportResult) -> None:
        if not batch.rows:
            return
        conn = work.conn
        cleaned: list[tuple[RowInput, dict[str, Any], InsertParts | None]] = []
        for item in batch.rows:
            row, values = item.row, item.values
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
            cleaned.append((row, values, item.parts))
        created_ids: list[int] = []
        updated_ids: list[int] = []
        created: list[Contact] = []
        for round_items in _rounds(cleaned):
            existing = self._existing(conn, [v["email_key"] for _, v, _ in round_items])
            if self.matchers:
                self._plugin_matches(round_items, existing)
            new = [item for item in round_items if item[1]["email_key"] not in existing]
            dupes = [
                (r, v, existing[v["email_key"]])
                for r, v, _ in round_items
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
                "rows": [batch.rows[0].row.number, batch.rows[-1].row.number],
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
        self, items: Sequence[tuple[RowInput, dict[str, Any], Any]], existing: dict[str, int]
    ) -> None:
        for _, values, _ in items:
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
            # one row holding an array: the driver parses it in one piece
            ids: list[int] = conn.execute(
                sa.text(
                    "SELECT array_agg(nextval(pg_get_serial_sequence('core_contacts', 'id'))) "
                    "FROM generate_series(1, :n)"
                ),
                {"n": count},
            ).scalar_one()
            return ids
        # SQLite: the transaction holds the write lock; rowids continue after the highest
        top = conn.execute(sa.select(sa.func.max(c.c.id))).scalar() or 0
        return list(range(top + 1, top + 1 + count))

    def insert_parts(self, items: Sequence[dict[str, Any]]) -> list[InsertParts]:
        """What the inserts of new contacts with these cleaned values need, but their ids and
        company ids and the batch's timestamp: their stored cells (search document, phone and
        notes encrypted when keys are set, the phone's blind index; COPY text on PostgreSQL,
        the driver's values on SQLite), tag links and event fields. Pure Python."""
        actor_id = self.actor.user_id
        dialect = self.dialect
        rows: list[dict[str, Any]] = []
        extras: list[tuple[str | None, list[str], list[tuple[str, str]], list[str]]] = []
        for values in items:
            given_tags = values.get("tags") or []
            auto_tags = initial_tags(values)
            raw_custom = values.get("custom")
            custom = (
                {k: v for k, v in raw_custom.items() if v is not None} if raw_custom else {}
            )
            company = values.get("company")
            row = {
                **values,
                "custom": custom,
                "social": values.get("social") or {},
                "owner_id": values.get("owner_id", actor_id),
                "version": 1,
                "created_by": actor_id,
                "search_doc": search_document(values, [*given_tags, *auto_tags], dialect),
            }
            row.pop("tags", None)
            rows.append(row)
            seen: set[str] = set()
            links: list[tuple[str, str]] = []
            row_tags: list[str] = []
            for names, source in ((given_tags, "import"), (auto_tags, "auto")):
                for name in names:
                    key = name.lower()
                    if key not in seen:
                        seen.add(key)
                        links.append((key, source))
                        row_tags.append(name)
            extras.append(
                (company_key(company) if company else None, [*given_tags, *auto_tags], links, row_tags)
            )
        # phone and notes encrypted when keys are configured, the phone's blind index filled
        stored = encrypt_contact_rows(self.crm, rows)
        names = self.columns
        out: list[InsertParts] = []
        postgres = dialect == "postgresql"
        encode = json.dumps if postgres else self.json_value
        empty = encode({})
        for plain, row, (key, tag_names, links, row_tags) in zip(rows, stored, extras, strict=True):
            social, custom = row["social"], row["custom"]
            row["social"] = encode(social) if social else empty
            row["custom"] = encode(custom) if custom else empty
            get = row.get
            cells = [_copy_text(get(n)) for n in names] if postgres else [get(n) for n in names]
            out.append(InsertParts(cells, key, tag_names, links, self._event_contact(plain, row_tags)))
        return out

    def _insert(
        self,
        conn: sa.Connection,
        items: Sequence[tuple[RowInput, dict[str, Any], InsertParts | None]],
    ) -> tuple[list[int], list[Contact]]:
        now = utcnow()
        # the rows the full validation passed are prepared here, the others were in the reader
        todo = [v for _, v, parts in items if parts is None]
        done = iter(self.insert_parts(todo))
        parts_list = [parts if parts is not None else next(done) for _, _, parts in items]
        companies = self._company_ids(conn, [v.get("company") for _, v, _ in items])
        ids = self._allocate_ids(conn, len(items))
        tag_ids_ = self._tag_ids(conn, {t for p in parts_list for t in p.tag_names})
        links: list[tuple[int, int, str]] = []
        contacts: list[Contact] = []
        listen = self.listen_created
        if listen:
            self._owner_emails(
                conn, {p.contact.owner_id for p in parts_list if p.contact is not None}
            )
        at_id, at_company, at_created, at_updated = self.slots
        postgres = self.dialect == "postgresql"
        if postgres:
            stamp: Any = now.isoformat()
        else:
            stamp = self.stamp(now)
        rows: list[Any] = []
        for contact_id, parts in zip(ids, parts_list, strict=True):
            company_id = companies.get(parts.company_key) if parts.company_key else None
            cells = list(parts.cells)
            cells[at_created] = cells[at_updated] = stamp
            if postgres:
                cells[at_id] = str(contact_id)
                cells[at_company] = "\\N" if company_id is None else str(company_id)
                rows.append("\t".join(cells))
            else:
                cells[at_id], cells[at_company] = contact_id, company_id
                rows.append(tuple(cells))
            for key, source in parts.links:
                links.append((contact_id, tag_ids_[key], source))
            if listen and parts.contact is not None:
                self._settle(parts.contact, contact_id, company_id, now)
                contacts.append(parts.contact)
        if postgres:
            self._copy(conn, rows, links, stamp)
        else:
            self._executemany(conn, rows, links, stamp)
        return ids, contacts

    def _executemany(
        self,
        conn: sa.Connection,
        rows: list[Any],
        links: list[tuple[int, int, str]],
        stamp: Any,
    ) -> None:
        """SQLite: one executemany per table on the driver's cursor, values in the form the
        column types store them (the batch's timestamp converted once, JSON serialised and
        phone and notes encrypted by ``insert_parts``)."""
        names = self.columns
        placeholders = ", ".join("?" for _ in names)
        quoted = ", ".join(f'"{n}"' for n in names)
        conn.exec_driver_sql(f"INSERT INTO core_contacts ({quoted}) VALUES ({placeholders})", rows)
        if links:
            conn.exec_driver_sql(
                "INSERT INTO core_contact_tags (contact_id, tag_id, source, created_at) "
                "VALUES (?, ?, ?, ?)",
                [(cid, tid, src, stamp) for cid, tid, src in links],
            )

    def _copy(
        self,
        conn: sa.Connection,
        lines: list[str],
        links: list[tuple[int, int, str]],
        stamp: str,
    ) -> None:
        """COPY the new contacts and their tag links straight into their tables (text format,
        the batch's lines built by ``insert_parts`` and sent in one piece)."""
        raw: Any = conn.connection.dbapi_connection
        assert raw is not None
        quoted = ", ".join(f'"{n}"' for n in self.columns)
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

    def _event_contact(self, row: dict[str, Any], tags: list[str]) -> Contact | None:
        """The new contact as ``load`` would return it (for the batch's events), built before
        it has an id: the writer settles its id, company id, owner and timestamps
        (``_settle``) once they are known, before anything else sees it."""
        if not self.listen_created:
            return None
        social = row["social"]
        get = row.get
        address = (
            Address(**{p: get(f"address_{p}") for p in ADDRESS_PARTS})
            if get("address_country") or get("address_city") or get("address_street")
            or get("address_state") or get("address_zip")
            else NO_ADDRESS
        )
        return Contact(
            id=0,
            email=row["email"],
            first_name=row["first_name"],
            last_name=row["last_name"],
            phone=get("phone"),
            position=get("position"),
            company=get("company"),
            industry=get("industry"),
            company_size=get("company_size"),
            stage=get("stage"),
            type=get("type"),
            channel=get("channel"),
            owner_id=row["owner_id"],
            tags=tuple(tags),
            address=address,
            social=SocialLinks(**{k: social.get(k) for k in SOCIAL_NETWORKS})
            if social
            else NO_SOCIAL,
            custom=row["custom"],
            notes=get("notes"),
            version=1,
        )

    def _settle(self, contact: Contact, contact_id: int, company_id: int | None, now: Any) -> None:
        """Fill in what the database gave the new contact of ``_event_contact``. The object is
        still private to the import (a retried batch settles it again), so its frozen fields
        are set the way attrs documents for initialisation."""
        owner_id = contact.owner_id
        owner = self.owner_emails.get(owner_id) if owner_id is not None else None
        setattr_ = object.__setattr__
        setattr_(contact, "id", contact_id)
        setattr_(contact, "company_id", company_id)
        setattr_(contact, "owner", owner)
        setattr_(contact, "created_at", now)
        setattr_(contact, "updated_at", now)

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


_Item = tuple[RowInput, dict[str, Any], InsertParts | None]
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


def _rounds(items: Sequence[_Item]) -> list[list[_Item]]:
    """Split a batch so each email appears once per round (later rows see earlier ones)."""
    if len({item[1]["email_key"] for item in items}) == len(items):
        return [list(items)] if items else []
    rounds: list[list[_Item]] = []
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
