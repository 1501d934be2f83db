"""`tandem export` from the command line."""

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from openpyxl import load_workbook

from tandem.audit.models import AuditEntry
from tandem.exports.models import Export
from tandem.exports.tests.factories import make_records

REPOSITORY = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.django_db


@pytest.fixture
def records(cast):
    return make_records(cast)


def run_export(*arguments: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("export", *arguments, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _ids(text: str) -> list[str]:
    return [row[0] for row in csv.reader(io.StringIO(text, newline=""))][1:]


def test_without_out_it_writes_csv_to_standard_output_and_the_summary_to_stderr(records):
    out, err = run_export("people", "--stage", "opportunity", "--stage", "lead")

    assert out.splitlines()[0].startswith("id,external_id,email,first_name,")
    assert _ids(out) == [str(records["pat"].pk), str(records["kim"].pk)]
    assert err.startswith("Exported 2 people in ")
    assert err.endswith(" rows/s).\n")


def test_list_filters_are_options(records, cast):
    assert _ids(run_export("people", "--owner", "SAM@example.com")[0]) == [str(records["pat"].pk)]
    assert _ids(run_export("people", "--owner", "none")[0]) == [str(records["kim"].pk)]
    assert _ids(run_export("people", "--search", "pat", "--quiet")[0]) == [str(records["pat"].pk)]
    assert _ids(run_export("accounts", "--target")[0]) == [str(records["account"].pk)]
    assert _ids(run_export("accounts", "--owner", "erin@example.com", "--industry", "Software")[0]) == [
        str(records["account"].pk)
    ]
    assert _ids(run_export("opportunities", "--open", "--stage", "discovery")[0]) == [str(records["open_deal"].pk)]
    assert _ids(run_export("opportunities", "--closed")[0]) == []
    assert _ids(run_export("touchpoints", "--type", "page_view", "--since", "2025-03-04")[0]) == [
        str(records["visit"].pk)
    ]
    assert _ids(run_export("touchpoints", "--until", "2025-03-04T05:00:00+00:00")[0]) == []


def test_out_writes_the_file_with_a_progress_bar_and_prints_the_summary(records, tmp_path):
    target = tmp_path / "people.csv"

    out, err = run_export("people", "--out", str(target))

    assert _ids(target.read_text(encoding="utf-8")) == [str(records["pat"].pk), str(records["kim"].pk)]
    assert out.startswith("Exported 2 people in ")
    assert out.endswith(f" rows/s) to {target}.\n")
    assert "Exporting people: 100%" in err
    assert list(tmp_path.iterdir()) == [target]


def test_the_format_follows_the_file_extension(records, tmp_path):
    target = tmp_path / "deals.XLSX"

    run_export("opportunities", "--out", str(target), "--quiet")

    sheet = load_workbook(target, read_only=True).active
    assert [row[0] for row in sheet.iter_rows(values_only=True)] == [
        "id",
        records["deal"].pk,
        records["open_deal"].pk,
    ]


def test_format_overrides_the_extension(records, tmp_path):
    target = tmp_path / "people.txt"

    run_export("people", "--out", str(target), "--format", "csv", "--quiet")

    assert target.read_text(encoding="utf-8").startswith("id,external_id,email,")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["people", "--stage", "nope"], "--stage: Unknown stage 'nope'; expected one of subscriber, lead, mql, "),
        (["people", "--lead-status", "nope"], "--lead-status: Unknown lead_status 'nope'; expected one of new, "),
        (["people", "--owner", "nobody@example.com"], "--owner: there is no user with the email 'nobody@example.com'."),
        (["people", "--out", "people.pdf"], "--out: cannot tell the format from 'people.pdf'; name it .csv or .xlsx"),
        (["people", "--format", "xlsx"], "--format xlsx needs --out FILE: a workbook is not written to the terminal."),
        (["touchpoints", "--channel", "tv"], "--channel: Unknown channel 'tv'; expected one of organic_search, "),
    ],
)
def test_bad_options_are_refused_naming_the_option(records, tmp_path, arguments, message):
    with pytest.raises(CommandError) as refused:
        run_export(*arguments)

    assert str(refused.value).startswith(message)
    assert not Export.objects.exists()
    assert list(tmp_path.iterdir()) == []


def test_a_failed_export_leaves_no_file_behind(records, tmp_path):
    from tandem.crm.models import Person

    Person.objects.filter(pk=records["pat"].pk).update(custom_fields={"notes": "x" * 40_000})
    target = tmp_path / "people.xlsx"

    with pytest.raises(CommandError) as refused:
        run_export("people", "--out", str(target), "--quiet")

    assert "an XLSX cell holds at most 32,767" in str(refused.value)
    assert list(tmp_path.iterdir()) == []


def test_a_command_line_export_is_audited_as_the_command(records):
    run_export("accounts", "--region", "EMEA", "--quiet")

    entry = AuditEntry.objects.get(action="export")
    assert (entry.actor, entry.actor_label) == (None, "System: tandem export")
    assert entry.after == {
        "kind": "accounts",
        "format": "csv",
        "filters": {"region": "EMEA"},
        "row_count": 1,
        "is_complete": True,
    }


@pytest.mark.django_db(transaction=True)
def test_the_tandem_command_exits_0_with_the_file_and_1_with_the_option_at_fault(tmp_path):
    environment = {**os.environ, "TANDEM_DATA_DIR": str(tmp_path)}
    environment.pop("DATABASE_URL", None)

    def tandem(*arguments):
        return subprocess.run(  # noqa: S603
            [sys.executable, "-m", "tandem.cli", *arguments],
            cwd=REPOSITORY, env=environment, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    assert tandem("migrate").returncode == 0
    exported = tandem("export", "accounts", "--out", str(tmp_path / "accounts.csv"))
    refused = tandem("export", "people", "--stage", "nope")

    assert exported.returncode == 0
    assert exported.stdout.startswith("Exported 0 accounts in ")
    assert (tmp_path / "accounts.csv").read_text().startswith("id,external_id,name,domain,")
    assert refused.returncode == 1
    assert refused.stderr.startswith("CommandError: --stage: Unknown stage 'nope'")
    assert "Traceback" not in refused.stderr
    assert refused.stdout == ""
