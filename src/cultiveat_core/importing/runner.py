"""Running an import: stream records, validate each, dedupe, write in batches.

Each batch is one transaction: new contacts (COPY into a staging table, then one INSERT on
PostgreSQL; executemany on SQLite), updates of duplicates per ``on_duplicate``, tags,
search documents, the batch's audit record, and the import's progress (``rows_done``), so a
crash loses at most the batch in flight and a rerun resumes after the last committed row.
A dry run does the same inside one transaction and rolls it back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from cultiveat_core.db import tables
from cultiveat_core.db.metadata import utcnow
from cultiveat_core.domain import Actor
from cultiveat_core.errors import ValidationError
from cultiveat_core.hookcalls import implementations
from cultiveat_core.importing.mappers import IGNORE, SOURCES, apply_mapping_file, choose_mapper
from cultiveat_core.importing.reader import FileProblem, open_csv
from cultiveat_core.importing.rows import RowInput, row_problems, to_input
from cultiveat_core.services.search import refresh_search_docs, search_document
from cultiveat_core.services.tags import add_tags, initial_tags
from cultiveat_core.services.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

c = tables.contacts
imp = tables.imports
ON_DUPLICATE = ("skip", "update", "merge")
BATCH = 2000
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

    with _session(crm, actor, options.dry_run) as session:
        for record in csv_source.rows:
            if record.number <= resume_after:
                continue
            last_row = record.number
            problems = row_problems(record, csv_source.headers, csv_source.encoding)
            if problems:
                result.add_errors(problems)
                continue
            batch.append(to_input(record, csv_source.headers, columns, mapper))
            if len(batch) >= options.batch_size:
                session.run(flush)
                report()
        session.run(flush)
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
    def __init__(
        self, crm: CRM, actor: Actor, options: ImportOptions, import_id: str | None
    ) -> None:
        self.crm, self.actor, self.options, self.import_id = crm, actor, options, import_id
        self.definitions: Any = None
        self.owners: dict[Any, int | None] = {}
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

    def write(self, work: UnitOfWork, batch: Sequence[RowInput], result: ImportResult) -> None:
        if not batch:
            return
        conn = work.conn
        if self.definitions is None:
            self.definitions = self.crm.contacts.custom_fields.all(conn)
        cleaned: list[tuple[RowInput, dict[str, Any]]] = []
        for row in batch:
            try:
                values = self.crm.contacts.clean(
                    conn, row.data, partial=False, definitions=self.definitions, owners=self.owners
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
        rounds = _rounds(cleaned)
        for round_items in rounds:
            keys = [v["email_key"] for _, v in round_items]
            existing = dict(
                conn.execute(sa.select(c.c.email_key, c.c.id).where(c.c.email_key.in_(keys))).all()
            )
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
                created_ids += self._insert(conn, new)
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
        if self.listen_created and created_ids:
            for contact in self.crm.contacts.load(conn, created_ids):
                work.emit("contact_created", contact=contact)
        if self.listen_updated and updated_ids:
            for contact in self.crm.contacts.load(conn, updated_ids):
                work.emit(
                    "contact_updated", contact=contact, changes={"import": (None, self.import_id)}
                )

    def _plugin_matches(
        self, items: Sequence[tuple[RowInput, dict[str, Any]]], existing: dict[str, int]
    ) -> None:
        for _, values in items:
            if values["email_key"] in existing:
                continue
            match = self.crm.pm.hook.match_existing_contact(crm=self.crm, candidate=dict(values))
            if match is not None:
                existing[values["email_key"]] = match.id

    def _insert(
        self, conn: sa.Connection, items: Sequence[tuple[RowInput, dict[str, Any]]]
    ) -> list[int]:
        now = utcnow()
        companies = self.crm.contacts._company_ids(conn, [v.get("company") or "" for _, v in items])
        from cultiveat_core.services.contacts import company_key

        names = [col.name for col in c.columns if col.name != "id"]
        rows = []
        tags: dict[str, tuple[list[str], list[str]]] = {}
        for _, values in items:
            values = dict(values)
            tag_names = values.pop("tags", [])
            values["custom"] = {k: v for k, v in values.get("custom", {}).items() if v is not None}
            values.setdefault("social", {})
            values.setdefault("owner_id", self.actor.user_id)
            values["company_id"] = (
                companies.get(company_key(values["company"])) if values.get("company") else None
            )
            full = dict.fromkeys(names)
            full.update(
                values, version=1, created_by=self.actor.user_id, created_at=now, updated_at=now
            )
            rows.append(full)
            tags[values["email_key"]] = (tag_names, initial_tags(values))
            full["search_doc"] = search_document(
                values, [*tag_names, *tags[values["email_key"]][1]], conn.dialect.name
            )
        if conn.dialect.name == "postgresql":
            ids_by_key = _copy_insert(conn, names, rows)
        else:
            conn.execute(c.insert(), rows)
            ids_by_key = dict(
                conn.execute(
                    sa.select(c.c.email_key, c.c.id).where(c.c.email_key.in_(list(tags)))
                ).all()
            )
        add_tags(conn, {ids_by_key[k]: t[0] for k, t in tags.items() if t[0]}, "import")
        add_tags(conn, {ids_by_key[k]: t[1] for k, t in tags.items() if t[1]}, "auto")
        return [ids_by_key[str(r["email_key"])] for r in rows]

    def _update(
        self, conn: sa.Connection, items: Sequence[tuple[RowInput, dict[str, Any], int]]
    ) -> list[int]:
        """Apply duplicates to the contacts they match: ``update`` overwrites with the file's
        values, ``merge`` only fills what is empty; tags are added either way."""
        ids = [cid for _, _, cid in items]
        current = {r["id"]: r for r in conn.execute(sa.select(c).where(c.c.id.in_(ids))).mappings()}
        overwrite = self.options.on_duplicate == "update"
        companies = self.crm.contacts._company_ids(
            conn, [v.get("company") or "" for _, v, _ in items]
        )
        from cultiveat_core.services.contacts import company_key

        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        tags: dict[int, list[str]] = {}
        now = utcnow()
        for row, values, contact_id in items:
            old = current[contact_id]
            change: dict[str, Any] = {}
            for name in MERGEABLE:
                field = (
                    "owner"
                    if name == "owner_id"
                    else name.split("_", 1)[0]
                    if name.startswith("address_")
                    else name
                )
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
            groups.setdefault(tuple(sorted(change)), []).append(change)
        for keys, params in groups.items():
            columns: dict[str, Any] = {k: sa.bindparam(k) for k in keys if k != "b_id"}
            conn.execute(c.update().where(c.c.id == sa.bindparam("b_id")).values(**columns), params)
        add_tags(conn, tags, "import")
        return ids


def _rounds(
    items: Sequence[tuple[RowInput, dict[str, Any]]],
) -> list[list[tuple[RowInput, dict[str, Any]]]]:
    """Split a batch so each email appears once per round (later rows see earlier ones)."""
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


def _copy_insert(
    conn: sa.Connection, names: list[str], rows: list[dict[str, Any]]
) -> dict[str, int]:
    """COPY the rows into a staging table, then one INSERT ... SELECT ... RETURNING."""
    from psycopg.types.json import Jsonb

    raw: Any = conn.connection.dbapi_connection
    assert raw is not None
    quoted = ", ".join(f'"{n}"' for n in names)
    json_columns = {"social", "custom"}
    with raw.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS core_import_stage ON COMMIT DELETE ROWS AS "
            f"SELECT {quoted} FROM core_contacts WITH NO DATA"
        )
        with cursor.copy(f"COPY core_import_stage ({quoted}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([Jsonb(row[n]) if n in json_columns else row[n] for n in names])
        cursor.execute(
            f"INSERT INTO core_contacts ({quoted}) SELECT {quoted} FROM core_import_stage "
            f"RETURNING email_key, id"
        )
        found = {key: id_ for key, id_ in cursor.fetchall()}
        cursor.execute("DELETE FROM core_import_stage")
    return found
