"""Imports: vendor files, bad rows, encodings, dedupe, dry runs, crashes, CLI and HTTP."""

from __future__ import annotations

import io
import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from cultiveat_core.db import tables
from cultiveat_core.importing import FileProblem, ImportOptions, run_import
from cultiveat_core.markers import hookimpl

from .conftest import FILES


def run(crm, actor, data: bytes, **options):
    return run_import(
        crm, actor, io.BytesIO(data), size=len(data), options=ImportOptions(**options)
    )


def count(crm) -> int:
    with crm.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(tables.contacts)).scalar_one()


@pytest.mark.parametrize(
    "name, source, expected",
    [
        ("hubspot.csv", "hubspot", {"d.thompson@futuretech.net", "emily.r@growthco.com"}),
        ("salesforce.csv", "salesforce", {"m.chen@innovatetech.io", "sarah.johnson@techcorp.com"}),
        ("pipedrive.csv", "pipedrive", {"priya@nova.example.com", "wei@summit.example.com"}),
        ("google.csv", "google", {"olga@atlas.example.com", "ivan@apex.example.com"}),
    ],
)
def test_vendor_exports_are_recognised(crm, system, name, source, expected):
    result = run(crm, system, (FILES / name).read_bytes())
    assert result.source == source
    emails = {c.email for c in crm.contacts.list(system, limit=100)}
    assert emails == expected
    if name == "hubspot.csv":
        assert result.errors == [
            {"row": 3, "column": "Email", "message": result.errors[0]["message"]}
        ]
        thompson = crm.contacts.find_by_email(crm.engine.connect(), "d.thompson@futuretech.net")
        assert (thompson.stage, thompson.phone, thompson.address.state) == (
            "Hot Lead",
            "+15553210987",
            "TX",
        )
    if name == "salesforce.csv":
        assert result.errors == [] and result.created == 2  # the report footer is not data
        chen = crm.contacts.find_by_email(crm.engine.connect(), "m.chen@innovatetech.io")
        assert chen.address.street == "1 Market St\nSuite 400" and chen.channel == "Webinar"
    if name == "google.csv":
        olga = crm.contacts.find_by_email(crm.engine.connect(), "olga@atlas.example.com")
        assert olga.phone == "+49301234567" and {"Partners", "Newsletter"} <= set(olga.tags)
    if name == "pipedrive.csv":
        priya = crm.contacts.find_by_email(crm.engine.connect(), "priya@nova.example.com")
        assert (priya.first_name, priya.last_name, priya.company) == ("Priya", "Kumar", "Nova Labs")
        assert {"Hot lead", "Enterprise"} <= set(priya.tags)


BAD = (
    "Email,First Name,Last Name,Company\n"
    "good1@example.com,Good,One,Acme\n"
    ",Missing,Email,Acme\n"
    "bad@@example,Invalid,Email,Acme\n"
    f"long@example.com,{'x' * 101},Name,Acme\n"
    "nul@example.com,Nul\x00l,Byte,Acme\n"
    'quote@example.com,"Broken"quote,Row,Acme\n'
    "many@example.com,Too,Many,Acme,extra\n"
    "few@example.com,Too\n"
    "good2@example.com,Good,Two,Acme\n"
)


def test_bad_rows_are_reported_and_good_rows_imported(crm, system):
    result = run(crm, system, BAD.encode())
    assert result.created == 2
    by_row = {e["row"]: e for e in result.errors}
    assert sorted(by_row) == [2, 3, 4, 5, 6, 7, 8]
    assert by_row[2]["column"] == "Email" and "required" in by_row[2]["message"]
    assert by_row[3]["column"] == "Email"
    assert by_row[4]["column"] == "First Name" and "100" in by_row[4]["message"]
    assert by_row[5]["column"] == "First Name" and "NUL" in by_row[5]["message"]
    assert "quote" in by_row[6]["message"]
    assert "header has 4 columns" in by_row[7]["message"]
    assert "only 2 values" in by_row[8]["message"]


ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "cp1252")
DELIMITERS = (",", ";", "\t")


def test_encodings_and_delimiters(crm, system):
    for n, (encoding, delimiter) in enumerate((e, d) for e in ENCODINGS for d in DELIMITERS):
        rows = [
            ["Email", "First Name", "Last Name", "Company"],
            [f"rene{n}@example.com", "René", "Müller", "Café Crème; Co"],
            [f"zoe{n}@example.com", "Zoë", "Brontë", "Smith, Jones & Co"],
        ]
        text = "\r\n".join(
            delimiter.join(f'"{c}"' if delimiter in c else c for c in row) for row in rows
        )
        result = run(crm, system, (text + "\r\n").encode(encoding))
        assert result.errors == [] and result.created == 2, (encoding, delimiter, result.errors)
        rene = crm.contacts.find_by_email(crm.engine.connect(), f"rene{n}@example.com")
        assert (rene.first_name, rene.last_name, rene.company) == (
            "René",
            "Müller",
            "Café Crème; Co",
        )


FILE_PROBLEMS = [
    (b"", "empty"),
    (b"PK\x03\x04\x14\x00\x06\x00", "Excel"),
    (b"\x00\x01\x02" * 200, "binary"),
    (b"Name,Phone\nAnn,123\n", "email"),
    (b"Email,Company\nann@example.com,Acme\n", "first and last name"),
]


def test_file_level_failures_import_nothing(crm, system):
    for data, message in FILE_PROBLEMS:
        with pytest.raises(FileProblem, match=message):
            run(crm, system, data)
    assert count(crm) == 0


def test_mapping_file_and_bad_mapping(crm, system):
    data = b"Mail,Vorname,Zuname,Firma\nann@example.com,Ann,Lee,Acme\n"
    with pytest.raises(FileProblem, match="Zuname"):
        run(crm, system, data, mapping={"Nope": "last_name"})
    with pytest.raises(FileProblem, match="not a contact field"):
        run(crm, system, data, mapping={"Zuname": "surname"})
    result = run(
        crm, system, data, mapping={"Mail": "email", "Zuname": "last_name", "Firma": "company"}
    )
    assert result.created == 1 and result.errors == []


def test_dedupe_in_file_and_against_existing(crm, system):
    crm.contacts.create(
        system,
        {
            "email": "ann@example.com",
            "first_name": "Ann",
            "last_name": "Lee",
            "position": "CEO",
            "company": "Acme",
        },
    )
    data = (
        "Email,First Name,Last Name,Position,Company,Phone\n"
        " ANN@Example.com ,Ann,Lee,CTO,,+1 202 555 0143\n"
        "bob@bücher.de,Bob,Ray,,Acme,\n"
        "BOB@xn--bcher-kva.de,Bob,Ray,CFO,,\n"
    ).encode()
    skipped = run(crm, system, data, on_duplicate="skip", dry_run=True)
    assert (skipped.created, skipped.skipped, skipped.updated) == (1, 2, 0)
    assert count(crm) == 1  # the dry run wrote nothing
    merged = run(crm, system, data, on_duplicate="merge")
    assert (merged.created, merged.updated) == (1, 2)
    ann = crm.contacts.find_by_email(crm.engine.connect(), "ann@example.com")
    assert (ann.position, ann.phone) == ("CEO", "+12025550143")  # merge fills only what was empty
    bob = crm.contacts.find_by_email(crm.engine.connect(), "bob@bücher.de")
    assert bob.position == "CFO"
    updated = run(crm, system, data, on_duplicate="update")
    assert updated.updated == 3
    ann = crm.contacts.find_by_email(crm.engine.connect(), "ann@example.com")
    assert ann.position == "CTO" and ann.company == "Acme"  # empty cells never erase


class CrashAfter:
    """Fails the import's third batch, like a crash halfway."""

    def __init__(self):
        self.calls = 0
        self.armed = True

    @hookimpl
    def contact_pre_save(self, contact, changes):
        return None

    @hookimpl
    def contacts_created(self, contacts):
        pass


def test_a_crash_leaves_whole_batches_and_the_import_resumes(make_crm, system, monkeypatch):
    from cultiveat_core.importing import runner
    from cultiveat_core.importing.service import create_record, finish_record, resume_state

    crm = make_crm()
    data = (
        "Email,First Name,Last Name\n"
        + "".join(f"p{i}@example.com,P{i},Q{i}\n" for i in range(1, 26))
    ).encode()
    original = runner.BatchWriter.write
    calls = {"n": 0}

    def crashing(self, work, batch, result):
        calls["n"] += 1
        original(self, work, batch, result)
        if calls["n"] == 3:
            raise RuntimeError("power cut")

    monkeypatch.setattr(runner.BatchWriter, "write", crashing)
    options = ImportOptions(batch_size=10)
    import_id = create_record(crm, system, "people.csv", len(data), options)
    with pytest.raises(RuntimeError):
        run_import(
            crm, system, io.BytesIO(data), size=len(data), options=options, import_id=import_id
        )
    assert count(crm) == 20  # two whole batches; the third was rolled back
    monkeypatch.setattr(runner.BatchWriter, "write", original)
    options, so_far, done = resume_state(crm, import_id)
    assert done == 20
    result = run_import(
        crm,
        system,
        io.BytesIO(data),
        size=len(data),
        options=options,
        import_id=import_id,
        resume=so_far,
        resume_after=done,
    )
    finish_record(crm, import_id, result)
    assert count(crm) == 25 and result.created == 25


def test_cli_json_output(crm, tmp_path):
    from cultiveat_core.cli.main import build_cli

    path = tmp_path / "bad.csv"
    path.write_bytes(BAD.encode())
    out = CliRunner().invoke(
        build_cli(crm), ["import", "contacts", str(path), "--json", "--on-duplicate", "skip"]
    )
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    assert (result["created"], result["updated"], result["skipped"]) == (2, 0, 0)
    assert {"row", "column", "message"} <= set(result["errors"][0])
    again = CliRunner().invoke(
        build_cli(crm), ["import", "contacts", str(path), "--json", "--dry-run"]
    )
    assert json.loads(again.stdout)["skipped"] == 2
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    failed = CliRunner().invoke(build_cli(crm), ["import", "contacts", str(empty), "--json"])
    assert failed.exit_code == 1 and "empty" in json.loads(failed.stdout)["error"]


def test_http_import_is_a_job_with_progress(client, crm, run_jobs):
    files = {"file": ("hubspot.csv", (FILES / "hubspot.csv").read_bytes(), "text/csv")}
    started = client.post("/api/imports", files=files, data={"on_duplicate": "skip"})
    assert started.status_code == 202, started.text
    import_id = started.json()["id"]
    assert started.json()["status"] == "queued"
    run_jobs()
    status = client.get(f"/api/imports/{import_id}").json()
    assert status["status"] == "done", status
    assert (status["created"], status["error_count"]) == (2, 1)
    assert status["errors"][0]["row"] == 3
    assert status["progress"]["percent"] == 100.0
    bad = client.post("/api/imports", files={"file": ("x.csv", b"Name\nAnn\n", "text/csv")})
    assert bad.status_code == 422 and "email" in bad.json()["detail"]


def test_import_permission(client_for):
    sales = client_for("sales")
    response = sales.post(
        "/api/imports", files={"file": ("x.csv", b"Email,First Name,Last Name\n", "text/csv")}
    )
    assert response.status_code == 403
