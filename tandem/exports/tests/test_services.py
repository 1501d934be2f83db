"""Exports of each list: columns, values, filters, XLSX, and the record of who exported what."""

import csv
import datetime as dt
import io

import pytest
from django.db import connection
from openpyxl import load_workbook

from tandem.audit.models import AuditEntry
from tandem.crm.selectors import AccountFilters, OpportunityFilters, PersonFilters
from tandem.exports import postgres, selectors, services, writers
from tandem.exports.models import Export, ExportKind
from tandem.exports.selectors import FILTER_CLASSES, TouchpointFilters
from tandem.exports.tests.factories import CREATED_AT_TEXT, EXPORTER, export_csv, make_records
from tandem.exports.writers import ExportTooLargeError

pytestmark = pytest.mark.django_db

PEOPLE_HEADER = [
    "id", "external_id", "email", "first_name", "last_name", "title", "phone", "account_external_id",
    "account_domain", "account_name", "lifecycle_stage", "lead_status", "owner_email", "source", "utm_source",
    "utm_medium", "utm_campaign", "utm_term", "utm_content", "fit_score", "engagement_score", "predictive_score",
    "buying_role", "consent_email", "consent_tracking", "created_at",
]  # fmt: skip
ACCOUNT_HEADER = [
    "id", "external_id", "name", "domain", "industry", "employee_count", "annual_revenue", "country", "region",
    "owner_email", "icp_tier", "is_target_account", "lifecycle_stage", "created_at",
]  # fmt: skip
OPPORTUNITY_HEADER = [
    "id", "external_id", "name", "account_external_id", "account_domain", "account_name", "primary_person_email",
    "amount", "currency", "stage", "probability", "forecast_category", "close_date", "owner_email", "lost_reason",
    "source_campaign", "created_at",
]  # fmt: skip
TOUCHPOINT_HEADER = [
    "id", "client_event_id", "person_email", "person_external_id", "anonymous_id", "type", "channel", "campaign",
    "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "url", "referrer", "occurred_at",
    "properties",
]  # fmt: skip


@pytest.fixture
def records(cast):
    return make_records(cast)


def test_people_export_has_the_import_columns_and_exact_values(records):
    pat, kim, account = records["pat"], records["kim"], records["account"]

    rows = export_csv("people", PersonFilters())

    assert rows[0] == [*PEOPLE_HEADER, "custom.budget", "custom.persona", "custom.vip"]
    assert rows[1] == [
        str(pat.pk), "P-1", "pat@acme.com", "Pat", "Lee", "CTO", "'+49 30 1234", "ACC-1", "acme.com", "Acme",
        "opportunity", "qualified", "sam@example.com", "Webinar", "linkedin", "paid_social", "spring", "crm", "video",
        "72", "41", "-3", "Champion", "true", "false", CREATED_AT_TEXT, "-5", "'=cmd", "true",
    ]  # fmt: skip
    assert account.pk != kim.account_id
    assert rows[2] == [
        str(kim.pk), "P-2", "", "", "'-Kim", "", "", "", "", "", "lead", "new", "", "", "", "", "", "", "",
        "0", "0", "", "", "false", "false", CREATED_AT_TEXT, "", "", "",
    ]  # fmt: skip
    assert len(rows) == 3


def test_account_export_has_the_import_columns_and_exact_values(records):
    account, bare = records["account"], records["bare_account"]

    rows = export_csv("accounts", AccountFilters())

    assert rows == [
        [*ACCOUNT_HEADER, "custom.seats", "custom.tier"],
        [
            str(account.pk), "ACC-1", "Acme", "acme.com", "Software", "250", "1234.50", "DE", "EMEA",
            "erin@example.com", "1", "true", "", CREATED_AT_TEXT, "40", "gold",
        ],
        [str(bare.pk), "", "'=HYPERLINK(\"x\")", "", "", "", "", "", "", "", "", "false", "", CREATED_AT_TEXT, "", ""],
    ]  # fmt: skip


def test_opportunity_export_has_the_import_columns_and_exact_values(records):
    deal, open_deal = records["deal"], records["open_deal"]

    rows = export_csv("opportunities", OpportunityFilters())

    assert rows == [
        [*OPPORTUNITY_HEADER, "custom.region"],
        [
            str(deal.pk), "O-1", "Acme platform", "ACC-1", "acme.com", "Acme", "pat@acme.com", "-12.50", "EUR",
            "proposal", "60", "best_case", "2025-06-30", "erin@example.com", "", "Spring webinar", CREATED_AT_TEXT,
            "north",
        ],
        [
            str(open_deal.pk), "", "'@renewal", "", "", "", "", "0.00", "USD", "discovery", "10", "pipeline", "",
            "", "", "", CREATED_AT_TEXT, "",
        ],
    ]  # fmt: skip


def test_touchpoint_export_has_the_import_columns_and_exact_values(records):
    visit, anonymous = records["visit"], records["anonymous"]

    rows = export_csv("touchpoints", TouchpointFilters())

    assert rows == [
        TOUCHPOINT_HEADER,
        [
            str(visit.pk), "evt-1", "pat@acme.com", "P-1", "", "page_view", "paid_social", "Spring webinar",
            "linkedin", "paid_social", "spring", "", "", "https://acme.com/pricing", "https://www.linkedin.com/",
            CREATED_AT_TEXT, '{"title": "Pricing", "scroll": 80}',
        ],
        [
            str(anonymous.pk), "", "", "", "anon-7", "form_submit", "", "", "", "", "", "", "", "", "", CREATED_AT_TEXT,
            "{}",
        ],
    ]  # fmt: skip


def test_no_custom_columns_when_no_exported_row_has_custom_fields(records):
    rows = export_csv("people", PersonFilters(stages=["lead"]))

    assert rows[0] == PEOPLE_HEADER
    assert [row[0] for row in rows[1:]] == [str(records["kim"].pk)]


def test_export_applies_the_list_filters(records, cast):
    assert [row[0] for row in export_csv("people", PersonFilters(owner_id=cast.sdr.pk))[1:]] == [str(records["pat"].pk)]
    assert [row[0] for row in export_csv("people", PersonFilters(is_unowned=True))[1:]] == [str(records["kim"].pk)]
    assert [row[0] for row in export_csv("people", PersonFilters(search="pat"))[1:]] == [str(records["pat"].pk)]
    assert [row[0] for row in export_csv("accounts", AccountFilters(is_target_account=True))[1:]] == [
        str(records["account"].pk)
    ]
    assert [row[0] for row in export_csv("opportunities", OpportunityFilters(stages=["discovery"]))[1:]] == [
        str(records["open_deal"].pk)
    ]
    assert [row[0] for row in export_csv("touchpoints", TouchpointFilters(type="form_submit"))[1:]] == [
        str(records["anonymous"].pk)
    ]


def test_an_unknown_filter_key_is_refused_naming_the_field(records):
    with pytest.raises(Exception) as refused:
        export_csv("people", PersonFilters(stages=["mql", "nope"]))

    assert refused.value.message_dict == {
        "stage": [
            "Unknown stage 'nope'; expected one of subscriber, lead, mql, sal, sql, opportunity, customer, "
            "evangelist, recycled, disqualified, churned."
        ]
    }
    assert not Export.objects.exists()


def test_every_export_writes_an_audit_entry_with_who_what_filters_and_rows(records, cast):
    export_csv("people", PersonFilters(stages=["opportunity"], owner_id=cast.sdr.pk), by=cast.marketer)

    export = Export.objects.get()
    entry = AuditEntry.objects.get(action="export")
    assert (entry.actor, entry.actor_label, entry.entity_type, entry.entity_id) == (
        cast.marketer,
        "Alice Marketer",
        "exports.export",
        export.pk,
    )
    assert entry.after == {
        "kind": "people",
        "format": "csv",
        "filters": {"stages": ["opportunity"], "owner_id": cast.sdr.pk},
        "row_count": 1,
        "is_complete": True,
    }
    assert entry.summary == "Exported 1 people as CSV"
    assert (export.actor, export.row_count, export.is_complete) == (cast.marketer, 1, True)


def test_xlsx_export_reads_back_with_the_same_cells_as_text_and_numbers(records):
    target = io.BytesIO()

    result = services.export_write(
        by=EXPORTER, kind="people", filters=PersonFilters(stages=["opportunity"]), file_format="xlsx", target=target
    )

    assert result.row_count == 1
    sheet = load_workbook(io.BytesIO(target.getvalue()), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert sheet.title == "People"
    assert list(rows[0]) == [*PEOPLE_HEADER, "custom.budget", "custom.persona", "custom.vip"]
    assert list(rows[1]) == [
        records["pat"].pk, "P-1", "pat@acme.com", "Pat", "Lee", "CTO", "'+49 30 1234", "ACC-1", "acme.com", "Acme",
        "opportunity", "qualified", "sam@example.com", "Webinar", "linkedin", "paid_social", "spring", "crm", "video",
        72, 41, -3, "Champion", "true", "false", CREATED_AT_TEXT, -5, "'=cmd", "true",
    ]  # fmt: skip
    assert len(rows) == 2


def test_xlsx_never_writes_a_formula_or_an_error_cell(records):
    from tandem.crm.models import Person

    Person.objects.filter(pk=records["pat"].pk).update(title="#N/A", first_name="Ann\x01e")
    target = io.BytesIO()

    services.export_write(
        by=EXPORTER, kind="people", filters=PersonFilters(stages=["opportunity"]), file_format="xlsx", target=target
    )

    sheet = load_workbook(io.BytesIO(target.getvalue())).active
    cells = {cell.column_letter: cell for cell in sheet[2]}
    assert (cells["D"].value, cells["D"].data_type) == ("Ann\ufffde", "s")
    assert (cells["F"].value, cells["F"].data_type) == ("#N/A", "s")
    assert not [cell for row in sheet.iter_rows() for cell in row if cell.data_type in ("f", "e")]


def test_xlsx_refuses_more_rows_than_a_sheet_holds_before_writing(records, monkeypatch):
    monkeypatch.setattr(services, "XLSX_MAX_DATA_ROWS", 1)
    target = io.BytesIO()

    with pytest.raises(ExportTooLargeError) as refused:
        services.export_write(by=EXPORTER, kind="people", filters=PersonFilters(), file_format="xlsx", target=target)

    assert str(refused.value) == (
        "An XLSX sheet holds at most 1 rows; these people are 2. Export to CSV, or narrow the filters."
    )
    assert target.getvalue() == b""
    assert not Export.objects.exists()


def test_xlsx_refuses_a_text_longer_than_a_cell_holds(records):
    from tandem.crm.models import Person

    Person.objects.filter(pk=records["pat"].pk).update(custom_fields={"notes": "x" * 32_768})

    with pytest.raises(ExportTooLargeError) as refused:
        services.export_write(
            by=EXPORTER, kind="people", filters=PersonFilters(), file_format="xlsx", target=io.BytesIO()
        )

    assert str(refused.value) == (
        f"The custom.notes of the row with id {records['pat'].pk} has 32,768 characters; "
        "an XLSX cell holds at most 32,767. Export to CSV instead."
    )


def test_a_stream_stopped_early_is_recorded_with_the_rows_already_sent(records, monkeypatch):
    monkeypatch.setattr(writers, "BATCH_ROWS", 1)
    monkeypatch.setattr(postgres, "CHUNK_BYTES", 1)
    stream = services.export_csv_stream(by=EXPORTER, kind="people", filters=PersonFilters())

    header, first = next(stream), next(stream)
    stream.close()

    assert header.decode().startswith("id,external_id,email,")
    assert first.decode().startswith(f"{records['pat'].pk},P-1,pat@acme.com,")
    export = Export.objects.get()
    assert (export.row_count, export.is_complete) == (1, False)
    assert AuditEntry.objects.get(action="export").summary == "Exported 1 people as CSV (stopped early)"


def test_a_streamed_export_gives_the_same_bytes_as_a_written_one(records):
    written = io.BytesIO()
    services.export_write(by=EXPORTER, kind="people", filters=PersonFilters(), file_format="csv", target=written)

    streamed = b"".join(services.export_csv_stream(by=EXPORTER, kind="people", filters=PersonFilters()))

    assert streamed == written.getvalue()
    assert streamed.count(b"\n") == 3
    assert [export.is_complete for export in Export.objects.all()] == [True, True]


@pytest.mark.parametrize("kind", ["accounts", "people", "opportunities", "touchpoints"])
def test_the_database_builds_the_same_cells_as_the_portable_path(records, kind):
    from tandem.crm.models import Account, Person

    Person.objects.filter(pk=records["kim"].pk).update(
        title='Line one\nline "two", three',
        first_name="\tTab",
        last_name="Ünïcødé ✓",
        custom_fields={
            "text": "-x",
            "number_text": "-5",
            "ratio": -1.5,
            "off": False,
            "gone": None,
            "list": ["a", 1],
            "map": {"k": "=v", "é": "ü"},
            'odd "key"': "@x",
        },
        created_at=dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    )
    Person.objects.filter(pk=records["pat"].pk).update(
        created_at=dt.datetime(2025, 1, 2, 3, 4, 5, 500000, tzinfo=dt.UTC)
    )
    Account.objects.filter(pk=records["account"].pk).update(annual_revenue="1000.00")
    filters = FILTER_CLASSES[ExportKind(kind)]()

    built = b"".join(services._csv_chunks(kind, filters, progress=None))
    with selectors.read_snapshot():
        rows = selectors.export_rows(kind, filters)
        portable = writers.csv_line(rows.header) + b"".join(writers.csv_chunks(services._cells(rows)))

    def parsed(data: bytes) -> list[list[str]]:
        return list(csv.reader(io.StringIO(data.decode(), newline="")))

    assert parsed(built) == parsed(portable)
    assert len(parsed(built)) == 3


@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's")
def test_an_error_in_the_middle_of_a_copy_is_raised_not_cut_short_silently():
    import psycopg

    statement = "COPY (SELECT 10 / (3 - x) FROM generate_series(1, 5) AS x) TO STDOUT WITH (FORMAT csv)"

    with pytest.raises(psycopg.Error) as failed, selectors.read_snapshot():
        b"".join(postgres.copy_csv_chunks(statement, []))

    assert "division by zero" in str(failed.value)
    assert Export.objects.count() == 0  # the connection is usable again
