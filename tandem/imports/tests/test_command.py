"""`tandem import` end to end, including the real public datasets beside the project."""

import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Sum

from tandem.crm.models import Opportunity, Person
from tandem.imports.models import ImportRun
from tandem.users.models import Team, User

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[3]
DATASETS = ROOT.parent / "shared" / "datasets"
EXAMPLES = ROOT / "docs" / "examples"


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"


def import_json(capsys, *args) -> tuple[int, dict]:
    code = 0
    try:
        call_command("import", *args, "--format", "json")
    except SystemExit as exit_:
        code = exit_.code
    return code, json.loads(capsys.readouterr().out)


def test_exit_code_is_0_when_every_row_imports(db, tmp_path, capsys):
    path = tmp_path / "people.csv"
    path.write_text("Email,First Name\nann@acme.com,Ann\n", encoding="utf-8")
    code, summary = import_json(capsys, "people", str(path))
    assert code == 0
    assert (summary["created"], summary["rejected"], summary["error_file"]) == (1, 0, None)
    assert summary["load_path"] == "ordinary" and "finishing_seconds" not in summary


def test_the_summary_says_a_bulk_load_finished_and_how_long_its_steps_took(db, tmp_path, capsys, settings):
    settings.IMPORT_BULK_MIN_ROWS = 1
    path = tmp_path / "people.csv"
    path.write_text("Email,First Name\nann@acme.com,Ann\nbo@acme.com,Bo\n", encoding="utf-8")
    code, summary = import_json(capsys, "people", str(path))
    assert (code, summary["created"], summary["load_path"]) == (0, 2, "bulk")
    assert summary["finishing_seconds"] and all(seconds >= 0 for seconds in summary["finishing_seconds"].values())
    assert Person.objects.count() == 2


def test_resume_continues_a_run_that_stopped(db, tmp_path, capsys):
    from tandem.audit.actors import Actor
    from tandem.imports.services import import_run_create

    path = tmp_path / "people.csv"
    path.write_text("Email,First Name\nann@acme.com,Ann\nbo@acme.com,Bo\n", encoding="utf-8")
    run = import_run_create(by=Actor.importer(label="test"), kind="people", path=path)
    ImportRun.objects.filter(pk=run.pk).update(status="running")  # its worker died before it wrote anything
    code, summary = import_json(capsys, "people", "--resume", str(run.pk))
    assert code == 0
    assert (summary["import_run"], summary["status"], summary["created"]) == (run.pk, "done", 2)
    assert Person.objects.count() == 2
    with pytest.raises(CommandError, match="no import #"):
        call_command("import", "accounts", "--resume", str(run.pk))
    with pytest.raises(CommandError, match="Name the FILE"):
        call_command("import", "people")


def test_exit_code_is_1_and_the_report_is_named_when_rows_are_rejected(db, tmp_path, capsys):
    path = tmp_path / "people.csv"
    path.write_text("Email,First Name\nann@acme.com,Ann\nnope,Bo\n", encoding="utf-8")
    code, summary = import_json(capsys, "people", str(path))
    assert code == 1
    assert (summary["created"], summary["rejected"]) == (1, 1)
    assert Path(summary["error_file"]).read_text(encoding="utf-8").splitlines()[1].startswith("3,")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"Email,Name\n", "a header row but no data rows"),
        (b"\x00\x01\x02\x03binary", "binary file"),
        (b"Email,Name\nann@acme.com,M\xc3\xbcller\nbo@acme.com,Ren\xe9e\n", "mixes two encodings"),
    ],
)
def test_exit_code_is_2_and_nothing_is_written_when_the_file_cannot_be_read(db, tmp_path, content, message):
    path = tmp_path / "people.csv"
    path.write_bytes(content)
    with pytest.raises(CommandError, match=message) as error:
        call_command("import", "people", str(path))
    assert error.value.returncode == 2
    assert ImportRun.objects.count() == 0
    assert Person.objects.count() == 0


def test_a_missing_required_key_column_is_refused(db, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("Shoe size\n42\n", encoding="utf-8")
    with pytest.raises(CommandError, match="no column of the file maps to a field") as error:
        call_command("import", "people", str(path))
    assert error.value.returncode == 2


def test_a_saved_mapping_is_reused_by_name(db, tmp_path, capsys):
    path = tmp_path / "people.csv"
    path.write_text("Mail,Given\nann@acme.com,Ann\n", encoding="utf-8")
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"kind": "people", "columns": {"Mail": "email", "Given": "first_name"}}))
    import_json(capsys, "people", str(path), "--mapping", str(mapping), "--save-mapping", "mail export")
    path.write_text("Mail,Given\nbo@acme.com,Bo\n", encoding="utf-8")
    code, summary = import_json(capsys, "people", str(path), "--mapping", "mail export")
    assert (code, summary["created"]) == (0, 1)
    assert Person.objects.get(email="bo@acme.com").first_name == "Bo"


needs_datasets = pytest.mark.skipif(
    not DATASETS.is_dir(), reason=f"the public datasets are not beside this clone ({DATASETS} is absent)"
)


@needs_datasets
def test_maven_crm_sample_gives_the_published_win_rate_and_won_revenue(db, capsys):
    maven = DATASETS / "maven_crm_sales"
    code, users = import_json(
        capsys, "users", str(maven / "sales_teams.csv"), "--mapping", str(EXAMPLES / "maven-sales-teams.json")
    )
    assert (code, users["created"], users["notes"]) == (0, 35, {"managers_created": 6})
    assert Team.objects.count() == 6
    assert User.objects.get(full_name="Moses Frase").email == "moses.frase@maven-sales.example"
    code, accounts = import_json(
        capsys, "accounts", str(maven / "accounts.csv"), "--mapping", str(EXAMPLES / "maven-accounts.json")
    )
    assert (code, accounts["created"]) == (0, 85)
    code, deals = import_json(
        capsys, "opportunities", str(maven / "sales_pipeline.csv"), "--mapping", str(EXAMPLES / "maven-pipeline.json")
    )
    assert (code, deals["created"], deals["rejected"]) == (0, 8800, 0)
    # The blank accounts of open deals are counted, not hidden.
    assert deals["notes"] == {"opportunities_without_account": 1425}
    closed = Opportunity.objects.filter(is_closed=True)
    won = closed.filter(is_won=True)
    assert (closed.count(), won.count()) == (6711, 4238)
    assert round(won.count() / closed.count(), 4) == 0.6315
    assert won.aggregate(total=Sum("amount"))["total"] == 10_005_534
    # "GTXPro" in the pipeline is the products table's "GTX Pro", by the mapping's value map.
    assert Opportunity.objects.filter(custom_fields__product="GTX Pro").count() == 1480
    assert not Opportunity.objects.filter(custom_fields__product="GTXPro").exists()
    code, again = import_json(
        capsys, "opportunities", str(maven / "sales_pipeline.csv"), "--mapping", str(EXAMPLES / "maven-pipeline.json")
    )
    assert (code, again["created"], again["updated"], again["unchanged"]) == (0, 0, 0, 8800)


@needs_datasets
def test_x_education_leads_import_with_conversions_as_customers(db, capsys):
    leads = DATASETS / "x_education_leads" / "leads.csv"
    code, summary = import_json(capsys, "people", str(leads), "--mapping", str(EXAMPLES / "x-education-leads.json"))
    assert (code, summary["created"], summary["rejected"]) == (0, 9240, 0)
    assert Person.objects.filter(lifecycle_stage_id="customer").count() == 3561
    lead = Person.objects.get(external_id="7927b2df-8bba-4d29-b9a2-b6e0beafe620")
    assert (lead.source, lead.consent_email) == ("Olark Chat", True)
    # "Select" is the form's blank: not stored as a value.
    assert "specialization" not in lead.custom_fields
    assert lead.custom_fields["lead_number"] == "660737"
