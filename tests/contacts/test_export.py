"""Exports: formula escaping, the 1,000-row cap, XLSX, AES zip, filters, audit, plugin columns."""

from __future__ import annotations

import csv
import io

import pyzipper
import sqlalchemy as sa
from click.testing import CliRunner
from openpyxl import load_workbook

from cultiveat_core.db import tables
from cultiveat_core.exporting import ExportColumn, escape_cell
from cultiveat_core.markers import hookimpl

from .conftest import person


def rows_of(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_formula_cells_are_escaped(client, crm, system):
    crm.contacts.create(
        system,
        {
            **person(1),
            "company": '=HYPERLINK("http://evil")',
            "position": "+1 guy",
            "notes": "@SUM(A1)",
            "tags": ["-minus"],
        },
    )
    rows = rows_of(client.get("/api/contacts/export"))
    assert rows[0]["company"] == '\'=HYPERLINK("http://evil")'
    assert rows[0]["position"] == "'+1 guy" and rows[0]["notes"] == "'@SUM(A1)"
    assert rows[0]["tags"].startswith("'-minus")
    assert (
        escape_cell("\tx") == "'\tx" and escape_cell("\rx") == "'\rx" and escape_cell("ok") == "ok"
    )


def test_non_admins_get_at_most_1000_rows(client_for, crm, system):
    crm.contacts.create_many(system, [person(n) for n in range(1005)])
    marketing = client_for("marketing")
    capped = marketing.get("/api/contacts/export")
    assert capped.status_code == 200
    assert len(rows_of(capped)) == 1000 and capped.headers["x-export-truncated"] == "true"
    admin = client_for("admin")
    assert len(rows_of(admin.get("/api/contacts/export"))) == 1005
    with crm.engine.connect() as conn:
        audits = (
            conn.execute(
                sa.select(tables.audit_log.c.changes)
                .where(tables.audit_log.c.action == "contact.export")
                .order_by(tables.audit_log.c.id)
            )
            .scalars()
            .all()
        )
    assert [a["rows"] for a in audits] == [1000, 1005] and audits[0]["truncated"] is True


def test_filters_xlsx_and_password_zip(client, samples):
    response = client.get("/api/contacts/export", params={"format": "xlsx", "stage": "Hot Lead"})
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    values = list(sheet.values)
    assert values[0][:3] == ("id", "first_name", "last_name")
    assert sorted(v[3] for v in values[1:]) == [
        "d.thompson@futuretech.net",
        "sarah.johnson@techcorp.com",
    ]
    locked = client.get("/api/contacts/export", headers={"X-Export-Password": "correct horse"})
    assert locked.headers["content-type"] == "application/zip"
    with pyzipper.AESZipFile(io.BytesIO(locked.content)) as archive:
        archive.setpassword(b"correct horse")
        text = archive.read("contacts.csv").decode("utf-8-sig")
    assert "d.thompson@futuretech.net" in text
    assert (
        client.get("/api/contacts/export", headers={"X-Export-Password": "short"}).status_code
        == 422
    )
    assert client.get("/api/contacts/export", params={"format": "pdf"}).status_code == 422


class ExtraColumn:
    @hookimpl
    def export_columns(self, crm, actor):
        return [
            ExportColumn(
                name="email_domain",
                label="Email domain",
                expression=lambda c: (
                    sa.func.substr(c.c.email_key, sa.func.instr(c.c.email_key, "@") + 1)
                    if crm.engine.dialect.name == "sqlite"
                    else sa.func.split_part(c.c.email_key, "@", 2)
                ),
            )
        ]


def test_plugins_add_columns_and_cli_export(make_crm, system, tmp_path):
    from cultiveat_core.cli.main import build_cli
    from cultiveat_core.demo import SAMPLE_CONTACTS

    crm = make_crm(plugins=[ExtraColumn()])
    crm.contacts.create_many(system, SAMPLE_CONTACTS)
    out = tmp_path / "hot.csv"
    result = CliRunner().invoke(
        build_cli(crm), ["export", "contacts", "--out", str(out), "--filter", "stage=Hot Lead"]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text("utf-8-sig"))))
    assert sorted(r["email_domain"] for r in rows) == ["futuretech.net", "techcorp.com"]
    zipped = tmp_path / "all.zip"
    result = CliRunner().invoke(
        build_cli(crm), ["export", "contacts", "--out", str(zipped), "--password", "s3cret-pass"]
    )
    assert result.exit_code == 0, result.output
    with pyzipper.AESZipFile(zipped) as archive:
        archive.setpassword(b"s3cret-pass")
        assert len(archive.read("contacts.csv").decode("utf-8-sig").strip().splitlines()) == 5
