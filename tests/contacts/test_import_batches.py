"""The set-based import pipeline: duplicates inside and across batches in each on-duplicate
mode, COPY escaping, batch events, the row cleaner's fast path against the full validation,
and a batch redone after a concurrent insert."""

from __future__ import annotations

import io
import random

import pytest
import sqlalchemy as sa

from cultiveat_core.db import tables
from cultiveat_core.errors import ValidationError
from cultiveat_core.importing import ImportOptions, run_import
from cultiveat_core.importing.cleaning import RowCleaner, fast_phone
from cultiveat_core.markers import hookimpl
from cultiveat_core.services.validation import normalise_phone

HEADER = "Email,First Name,Last Name,Position,Company,Phone,Tags\n"


def run(crm, actor, data: str, **options):
    raw = data.encode()
    return run_import(crm, actor, io.BytesIO(raw), size=len(raw), options=ImportOptions(**options))


def contacts_by_email(crm):
    with crm.engine.connect() as conn:
        ids = conn.execute(sa.select(tables.contacts.c.id)).scalars().all()
        return {c.email: c for c in crm.contacts.load(conn, ids)}


def audit_count(crm) -> int:
    a = tables.audit_log
    with crm.engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count()).select_from(a).where(a.c.action == "contact.import")
        ).scalar_one()


FILE = (
    HEADER
    + "a@example.com,Ann,Lee,CEO,Acme,+1 202 555 0101,Vip\n"
    + "b@example.com,Bob,Ray,,Acme,,\n"
    + "A@EXAMPLE.COM,Ann,Lee,CTO,Globex,+1 202 555 0199,Newsletter\n"  # same batch as row 1
    + "c@example.com,Cy,Sun,,,,\n"
    + "d@example.com,Di,Fox,,,,\n"
    + "b@example.com,Bob,Ray,CFO,Initech,+1 202 555 0102,Partner\n"  # a later batch than row 2
    + "a@example.com,Ann,Lee,COO,,,\n"  # a third occurrence, another batch
)


@pytest.mark.parametrize("batch_size", [3, 5000])
def test_duplicates_in_and_across_batches_skip(crm, system, batch_size):
    result = run(crm, system, FILE, on_duplicate="skip", batch_size=batch_size)
    assert (result.created, result.updated, result.skipped, result.errors) == (4, 0, 3, [])
    found = contacts_by_email(crm)
    assert sorted(found) == ["a@example.com", "b@example.com", "c@example.com", "d@example.com"]
    ann = found["a@example.com"]
    assert (ann.position, ann.company, ann.phone) == ("CEO", "Acme", "+12025550101")
    assert set(ann.tags) == {"Vip", "CEO"}  # file tag + initial tag from the position
    assert audit_count(crm) == (3 if batch_size == 3 else 1)


@pytest.mark.parametrize("batch_size", [3, 5000])
def test_duplicates_in_and_across_batches_update(crm, system, batch_size):
    result = run(crm, system, FILE, on_duplicate="update", batch_size=batch_size)
    assert (result.created, result.updated, result.skipped) == (4, 3, 0)
    found = contacts_by_email(crm)
    ann, bob = found["a@example.com"], found["b@example.com"]
    # later rows overwrite with their non-empty values; empty cells never erase
    assert (ann.position, ann.company, ann.phone) == ("COO", "Globex", "+12025550199")
    assert (bob.position, bob.company, bob.phone) == ("CFO", "Initech", "+12025550102")
    assert {"Vip", "Newsletter"} <= set(ann.tags) and "Partner" in bob.tags
    assert ann.version == 3
    with crm.engine.connect() as conn:
        companies = {
            r.name: r.id for r in conn.execute(sa.select(tables.companies.c.name, tables.companies.c.id))
        }
    assert set(companies) == {"Acme", "Globex", "Initech"}
    assert bob.company_id == companies["Initech"]
    with crm.engine.connect() as conn:  # the search document follows the update
        doc = conn.execute(
            sa.select(tables.contacts.c.search_doc).where(tables.contacts.c.id == bob.id)
        ).scalar_one()
    assert "initech" in doc.lower() and "partner" in doc.lower()


@pytest.mark.parametrize("batch_size", [3, 5000])
def test_duplicates_in_and_across_batches_merge(crm, system, batch_size):
    result = run(crm, system, FILE, on_duplicate="merge", batch_size=batch_size)
    assert (result.created, result.updated, result.skipped) == (4, 3, 0)
    found = contacts_by_email(crm)
    ann, bob = found["a@example.com"], found["b@example.com"]
    # merge only fills what is empty
    assert (ann.position, ann.company, ann.phone) == ("CEO", "Acme", "+12025550101")
    assert (bob.position, bob.company, bob.phone) == ("CFO", "Acme", "+12025550102")
    assert {"Vip", "Newsletter"} <= set(ann.tags)


def test_copy_escaping_round_trips(crm, system):
    data = (
        "Email,First Name,Last Name,Position,Company,Notes\n"
        'tab@example.com,Tab,Back\\slash,"Head\tof\\Nthings",'
        '"Acme \\ Co","line one\nline two\r\nthree"\n'
        "null@example.com,\\N,Null,\\N,N,\n"
    )
    result = run(crm, system, data)
    assert result.errors == [] and result.created == 2
    found = contacts_by_email(crm)
    tab = found["tab@example.com"]
    assert (tab.last_name, tab.position, tab.company) == ("Back\\slash", "Head\tof\\Nthings", "Acme \\ Co")
    assert tab.notes == "line one\nline two\nthree"
    null = found["null@example.com"]
    assert (null.first_name, null.position, null.company) == ("\\N", "\\N", "N")


class Recorder:
    def __init__(self):
        self.batches = []

    @hookimpl
    def contacts_created(self, contacts):
        self.batches.append(list(contacts))


def test_events_once_per_batch_with_contacts_as_loaded(make_crm, system):
    recorder = Recorder()
    crm = make_crm(plugins=[recorder])
    owner = crm.users.create(system, "owner@example.com", "sales")
    data = "Email,First Name,Last Name,Position,Company,Tags,Owner,Country,City\n" + "".join(
        f"p{i}@example.com,P{i},Q{i},CEO,Acme {i % 3},Tag{i % 2},owner@example.com,"
        f"{'DE' if i % 4 == 0 else ''},{'Berlin' if i % 4 == 0 else ''}\n"
        for i in range(1, 12)
    )
    result = run(crm, system, data, batch_size=4)
    assert result.created == 11 and result.errors == []
    crm.events.close()
    assert [len(b) for b in recorder.batches] == [4, 4, 3]
    with crm.engine.connect() as conn:
        for batch in recorder.batches:
            loaded = {c.id: c for c in crm.contacts.load(conn, [c.id for c in batch])}
            for contact in batch:
                expected = loaded[contact.id].as_dict()
                got = contact.as_dict()
                assert sorted(got.pop("tags")) == sorted(expected.pop("tags"))
                assert got == expected
                assert contact.owner == "owner@example.com" and contact.owner_id == owner.id


def test_fast_path_equals_full_validation(crm):
    """``RowCleaner.fast`` returns what ``ContactService.clean`` returns, or defers to it."""
    rng = random.Random(3)
    cleaner = RowCleaner({}, {})
    cells = {
        "email": ["a@example.com", " Ann@Example.COM ", "bad@@x", "", "ü@bücher.de", "x@y.co\x00"],
        "first_name": ["Ann", " Zoë ", "", "x" * 101, "Nul\x00l", "e\u0301"],
        "last_name": ["Lee", "O'Neil", "y" * 100],
        "phone": ["+1 202 555 0143", "+1 (202) 555-0143", "+1-202-555-0143", "+1.202.555.0143",
                  "+12025550143", "+1 102 555 0143", "+44 20 7946 0958", "202 555 0143",
                  "00 1 202 555 0143", "+1 202 555 01434", "", "call me"],
        "stage": ["hot lead", "Customer", "Nope", ""],
        "type": ["investor", "Whatever"],
        "channel": ["webinar", ""],
        "company_size": ["50", "1,000", "many", ""],
        "position": ["CEO", "p" * 201],
        "tags": [["A", "a", "B"], ["ok", "t" * 31], ["x\x00y"]],
        "owner": ["someone@example.com"],
    }
    with crm.engine.connect() as conn:
        for _ in range(600):
            data = {k: rng.choice(v) for k, v in cells.items() if rng.random() < 0.6}
            data.setdefault("first_name", "")
            data.setdefault("last_name", "")
            fast = cleaner.fast(data)
            try:
                full = crm.contacts.clean(conn, data, partial=False, definitions={}, owners={})
            except ValidationError:
                assert fast is None, data
                continue
            assert fast is None or fast == full, data


def test_fast_phone_matches_phonenumbers():
    rng = random.Random(5)
    for _ in range(2000):
        digits = "".join(rng.choice("0123456789") for _ in range(10))
        sep = rng.choice(["", " ", "-", "."])
        area = f"({digits[:3]})" if rng.random() < 0.3 else digits[:3]
        text = f"+1{rng.choice(['', ' '])}{area}{sep}{digits[3:6]}{sep}{digits[6:]}"
        fast = fast_phone(text)
        if digits[0] in "01":
            assert fast is None, text  # phonenumbers may strip a national prefix: the slow path
        else:
            assert fast is not None and fast == normalise_phone(text), text


def blind_to_late_contact_once(crm, system, monkeypatch) -> dict[str, int]:
    """Create late@example.com, then make the importer's first existing-email lookup miss it,
    as if it was created after the lookup: the batch must be rolled back and redone."""
    from cultiveat_core.importing import runner

    crm.contacts.create(system, {"email": "late@example.com", "first_name": "L", "last_name": "A"})
    original = runner.BatchWriter._existing
    calls = {"n": 0}

    def blind_once(self, conn, keys):
        calls["n"] += 1
        found = original(self, conn, keys)
        if calls["n"] == 1:
            found.pop("late@example.com", None)
        return found

    monkeypatch.setattr(runner.BatchWriter, "_existing", blind_once)
    return calls


def test_a_batch_is_redone_when_a_contact_appears_meanwhile(crm, system, monkeypatch):
    calls = blind_to_late_contact_once(crm, system, monkeypatch)
    data = HEADER + "new@example.com,N,E,,Acme,,\nlate@example.com,L,A,,,,\n"
    result = run(crm, system, data)
    assert (result.created, result.skipped, result.errors) == (1, 1, [])
    assert calls["n"] == 2 and sorted(contacts_by_email(crm)) == ["late@example.com", "new@example.com"]


@pytest.mark.parametrize("keys", ["", "generate"])
def test_imported_phones_and_notes_are_stored_like_the_services_store_them(make_crm, system, keys):
    from cultiveat_core.crypto import generate_key

    crm = make_crm(field_encryption_keys=generate_key() if keys else "")
    crm.contacts.create(system, {"email": "dup@example.com", "first_name": "D", "last_name": "U"})
    data = (
        "Email,First Name,Last Name,Phone,Notes\n"
        "mia@example.com,Mia,Ross,+1 202 555 0143,allergic to peanuts\n"
        "dup@example.com,D,U,+1 202 555 0199,\n"
    )
    result = run(crm, system, data, on_duplicate="update")
    assert (result.created, result.updated, result.errors) == (1, 1, [])
    c = tables.contacts
    with crm.engine.connect() as conn:
        stored = {
            r.email: r
            for r in conn.execute(
                sa.select(
                    c.c.email,
                    sa.type_coerce(c.c.phone, sa.String).label("phone"),
                    sa.type_coerce(c.c.notes, sa.String).label("notes"),
                    c.c.phone_key,
                )
            )
        }
    found = contacts_by_email(crm)
    assert found["mia@example.com"].phone == "+12025550143"
    assert found["mia@example.com"].notes == "allergic to peanuts"
    assert found["dup@example.com"].phone == "+12025550199"
    for email, phone in (("mia@example.com", "+12025550143"), ("dup@example.com", "+12025550199")):
        assert stored[email].phone_key == crm.cipher.blind_index(phone)
        assert (stored[email].phone == phone) is (not keys)
    assert (stored["mia@example.com"].notes == "allergic to peanuts") is (not keys)


@pytest.mark.parametrize("mode", ["skip", "update", "merge"])
def test_duplicates_at_batch_scale(crm, system, mode):
    """3,000 rows in batches of 1,000; every seventh row repeats row n - 5 (same batch) or
    n - 1,500 (an earlier batch), with a new position and tag; 50 rows match existing contacts."""
    crm.contacts.create_many(
        system, [{"email": f"u{i}@example.com", "first_name": "Old", "last_name": f"L{i}"} for i in range(50)]
    )
    lines, expected = [], {}
    for n in range(3000):
        if n % 7 == 6:
            source = n - 5 if n % 2 else n - 1500
            email = f"u{source}@example.com" if source >= 0 else f"u{n}@example.com"
            lines.append(f"{email.upper()},New,L{source},Director {n},,,Dup{n % 3}")
            expected[email] = f"Director {n}"
        else:
            email = f"u{n}@example.com"
            lines.append(f"{email},First,L{n},Analyst,Co{n % 40},+1 202 555 {n % 10000:04d},T{n % 5}")
            expected.setdefault(email, "Analyst")
    result = run(crm, system, HEADER + "\n".join(lines) + "\n", on_duplicate=mode, batch_size=1000)
    distinct = len({line.split(",")[0].lower() for line in lines} | {f"u{i}@example.com" for i in range(50)})
    new = distinct - 50
    assert result.created == new and result.errors == []
    assert result.created + result.skipped + result.updated == 3000
    with crm.engine.connect() as conn:
        c = tables.contacts
        rows = {r.email_key: r for r in conn.execute(sa.select(c.c.email_key, c.c.position, c.c.first_name))}
        links = conn.execute(sa.select(sa.func.count()).select_from(tables.contact_tags)).scalar_one()
    assert len(rows) == distinct
    if mode == "update":
        assert all(rows[e].position == p for e, p in expected.items())
        assert rows["u0@example.com"].first_name == "First"  # row 0 of the file overwrote "Old"
    elif mode == "merge":
        assert rows["u0@example.com"].first_name == "Old"  # merge only fills empty fields
        assert rows["u0@example.com"].position == "Analyst"
    else:
        assert rows["u0@example.com"].position is None and result.skipped == 3000 - new
    assert links >= new  # every new row carries at least its file tag


def test_id_caches_refill_when_full(crm, system, monkeypatch):
    from cultiveat_core.importing import runner

    monkeypatch.setattr(runner, "CACHE_MAX", 2)
    data = HEADER + "".join(
        f"c{i}@example.com,C,{i},,Firm {i % 4},,Tag{i % 5}\n" for i in range(20)
    )
    result = run(crm, system, data, batch_size=3)
    assert result.created == 20 and result.errors == []
    found = contacts_by_email(crm)
    with crm.engine.connect() as conn:
        companies = dict(conn.execute(sa.select(tables.companies.c.name, tables.companies.c.id)).all())
    for i in range(20):
        contact = found[f"c{i}@example.com"]
        assert contact.company_id == companies[f"Firm {i % 4}"] and contact.tags == (f"Tag{i % 5}",)


def reader_threads():
    import threading

    return [t for t in threading.enumerate() if t.name == "cultiveat-import-reader"]


def test_a_reading_failure_is_raised_after_the_batches_before_it(crm, system, monkeypatch):
    """The reader thread parses ahead; what it raises reaches the caller after the batches
    read before it were written, and the thread is gone."""
    from cultiveat_core.importing import rows

    original = rows.RowBuilder.build

    def build(self, record):
        if record.number == 8:
            raise RuntimeError("disk gone")
        return original(self, record)

    monkeypatch.setattr(rows.RowBuilder, "build", build)
    data = HEADER + "".join(f"r{i}@example.com,R,{i},,,,\n" for i in range(1, 12))
    with pytest.raises(RuntimeError, match="disk gone"):
        run(crm, system, data, batch_size=3)
    assert sorted(contacts_by_email(crm)) == [f"r{i}@example.com" for i in range(1, 7)]
    assert reader_threads() == []


def test_a_writing_failure_stops_the_reader(crm, system, monkeypatch):
    from cultiveat_core.importing import runner

    original = runner.BatchWriter.write
    calls = {"n": 0}

    def failing(self, work, batch, result):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("database gone")
        original(self, work, batch, result)

    monkeypatch.setattr(runner.BatchWriter, "write", failing)
    data = HEADER + "".join(f"w{i}@example.com,W,{i},,,,\n" for i in range(1, 200))
    with pytest.raises(RuntimeError, match="database gone"):
        run(crm, system, data, batch_size=2)
    assert len(contacts_by_email(crm)) == 2
    assert reader_threads() == []


def test_the_reader_stays_a_bounded_number_of_batches_ahead(crm, system, monkeypatch):
    """Memory stays bounded: the reader prepares at most ``AHEAD`` batches beyond the one
    being written (plus the one it is building)."""
    import time

    from cultiveat_core.importing import runner

    prepared, written, gaps = [0], [0], []
    prepare, write = runner.BatchWriter.prepare_rows, runner.BatchWriter.write

    def counting_prepare(self, rows):
        prepared[0] += 1
        return prepare(self, rows)

    def slow_write(self, work, batch, result):
        time.sleep(0.02)  # a slow database: the reader would run far ahead if unbounded
        gaps.append(prepared[0] - written[0])
        write(self, work, batch, result)
        written[0] += 1

    monkeypatch.setattr(runner.BatchWriter, "prepare_rows", counting_prepare)
    monkeypatch.setattr(runner.BatchWriter, "write", slow_write)
    data = HEADER + "".join(f"m{i}@example.com,M,{i},,,,\n" for i in range(1, 121))
    result = run(crm, system, data, batch_size=4)
    assert result.created == 120
    assert max(gaps) <= runner.BatchReader.AHEAD + 2, gaps


def test_errors_keep_file_order_across_batches(crm, system):
    """Unreadable rows (found by the reader) and invalid rows (found while writing) are
    reported in file order, as when reading and writing took turns."""
    data = (
        HEADER
        + "e1@example.com,A,B,,,,\n"
        + "e2@example.com,A,B,,,,,extra\n"  # 2: too many values
        + "not-an-email,A,B,,,,\n"  # 3: invalid email
        + "e4@example.com,A,B,,,,\n"
        + "e5@example.com,A\n"  # 5: too few values
        + "e6@example.com,,B,,,,\n"  # 6: no first name
        + "e7@example.com,A,B,,,,\n"
    )
    result = run(crm, system, data, batch_size=2)
    assert [(e["row"], e["column"]) for e in result.errors] == [
        (2, None),
        (3, "Email"),
        (5, None),
        (6, "First Name"),
    ]
    assert result.created == 3 and result.rows == 7


def test_events_of_a_redone_batch_carry_the_final_ids(make_crm, system, monkeypatch):
    """The event contacts are built by the reader and given their ids by the writer: a batch
    rolled back and redone fires once, with the ids the contacts were stored under."""
    recorder = Recorder()
    crm = make_crm(plugins=[recorder])
    calls = blind_to_late_contact_once(crm, system, monkeypatch)
    data = HEADER + "n1@example.com,N,E,,Acme,,T\nlate@example.com,L,A,,,,\nn2@example.com,N,F,,,,\n"
    result = run(crm, system, data)
    assert (result.created, result.skipped, calls["n"]) == (2, 1, 2)
    crm.events.close()
    assert len(recorder.batches) == 2  # the contact created above, then the import's one batch
    found = contacts_by_email(crm)
    fired = recorder.batches[-1]
    assert sorted(c.email for c in fired) == ["n1@example.com", "n2@example.com"]
    for contact in fired:
        assert contact.as_dict() == found[contact.email].as_dict()
