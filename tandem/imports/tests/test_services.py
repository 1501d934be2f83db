import csv
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from tandem.audit.models import AuditEntry
from tandem.crm.models import Account, AccountMatch, Opportunity, OpportunityStageChange, Person, StageChange
from tandem.crm.tests.factories import make_account, make_person
from tandem.imports.mapping import Mapping, MappingError
from tandem.imports.models import ImportRun, ImportStatus
from tandem.imports.reading import UnreadableFileError
from tandem.imports.services import RowReader, import_preview, import_run_create, import_run_execute
from tandem.imports.writers import PersonWriter

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"


def csv_file(tmp_path, rows, name="people.csv"):
    path = tmp_path / name
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


def run_import(cast, kind, path, mapping=None, **options):
    run = import_run_create(by=cast.revops, kind=kind, path=path, mapping=mapping, **options)
    return import_run_execute(run_id=run.pk)


HUBSPOT_HEADER = [
    "First Name",
    "Last Name",
    "Email",
    "Company Name",
    "Lifecycle Stage",
    "Lead Status",
    "Create Date",
    "Contact owner",
]


def test_hubspot_people_are_created_with_stage_history_by_the_import(cast, tmp_path):
    path = csv_file(
        tmp_path,
        [
            HUBSPOT_HEADER,
            [
                "Ann",
                "Lee",
                "Ann@Acme.com",
                "Acme",
                "Marketing Qualified Lead",
                "NEW",
                "2024-05-01 09:30",
                "erin@example.com",
            ],
            ["Bo", "Ng", "bo@globex.com", "", "lead", "ATTEMPTED_TO_CONTACT", "2024-05-02 10:00", "Erin AE"],
        ],
    )
    make_account(name="Acme", domain="acme.com")
    run = run_import(cast, "people", path, Mapping(kind="people", preset="hubspot"))
    assert run.status == ImportStatus.DONE
    assert run.counts == {
        "rows": 2,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
        "duplicates": 0,
        "accounts_created": 0,
    }
    ann = Person.objects.get(email="ann@acme.com")
    assert (ann.first_name, ann.lifecycle_stage_id, ann.lead_status_id, ann.owner) == ("Ann", "mql", "new", cast.ae)
    assert ann.account.name == "Acme"
    assert ann.created_at.isoformat() == "2024-05-01T09:30:00+00:00"
    change = StageChange.objects.get(person=ann)
    assert (change.from_stage_id, change.to_stage_id, change.actor_type) == (None, "mql", "import")
    assert change.evidence == {"import_run": run.pk, "line": 2, "file": "people.csv"}
    assert AccountMatch.objects.get(person=ann).method == "import"
    bo = Person.objects.get(email="bo@globex.com")
    assert (bo.lifecycle_stage_id, bo.lead_status_id, bo.owner, bo.account) == ("lead", "attempting", cast.ae, None)


def test_running_the_same_file_again_changes_nothing(cast, tmp_path):
    path = csv_file(
        tmp_path, [["Email", "First Name", "Stage"], ["ann@acme.com", "Ann", "mql"], ["bo@acme.com", "Bo", "lead"]]
    )
    run_import(cast, "people", path)
    audit_before, changes_before = AuditEntry.objects.count(), StageChange.objects.count()
    again = run_import(cast, "people", path)
    assert (again.created_count, again.updated_count, again.unchanged_count) == (0, 0, 2)
    assert Person.objects.count() == 2
    assert StageChange.objects.count() == changes_before
    assert AuditEntry.objects.count() == audit_before + 1  # only the run's own entry


def test_updates_touch_only_cells_that_have_values_and_are_audited(cast, tmp_path):
    person = make_person(email="ann@acme.com", first_name="Ann", title="CTO", phone="123")
    path = csv_file(tmp_path, [["Email", "First Name", "Title", "Phone"], ["ANN@acme.com", "Anne", "", "123"]])
    run = run_import(cast, "people", path)
    assert (run.updated_count, run.unchanged_count) == (1, 0)
    person.refresh_from_db()
    assert (person.first_name, person.title, person.phone) == ("Anne", "CTO", "123")
    entry = AuditEntry.objects.filter(entity_type="crm.person", entity_id=person.pk, action="update").get()
    assert (entry.before, entry.after) == ({"first_name": "Ann"}, {"first_name": "Anne"})
    assert entry.actor == cast.revops


def test_stage_never_moves_backward_unless_asked(cast, tmp_path):
    person = make_person(email="ann@acme.com", stage="sql")
    path = csv_file(tmp_path, [["Email", "Lifecycle Stage"], ["ann@acme.com", "lead"]])
    run = run_import(cast, "people", path)
    person.refresh_from_db()
    assert person.lifecycle_stage_id == "sql"
    assert run.notes == {"stage_not_moved_backward": 1}
    assert run.unchanged_count == 1
    run = run_import(cast, "people", path, Mapping(kind="people", allow_backward=True))
    person.refresh_from_db()
    assert person.lifecycle_stage_id == "lead"
    change = StageChange.objects.filter(person=person).order_by("-id").first()
    assert (change.from_stage_id, change.to_stage_id, change.actor_type) == ("sql", "lead", "import")


def test_forward_moves_apply_and_set_the_stage_lead_status(cast, tmp_path):
    person = make_person(email="ann@acme.com", stage="lead")
    path = csv_file(tmp_path, [["Email", "Lifecycle Stage"], ["ann@acme.com", "SQL"]])
    run_import(cast, "people", path)
    person.refresh_from_db()
    assert (person.lifecycle_stage_id, person.lead_status_id) == ("sql", "qualified")


def test_duplicates_in_one_file_are_merged_in_file_order_and_counted(cast, tmp_path):
    rows = [["Email", "First Name", "Title"], ["ann@acme.com", "Ann", "CTO"], ["bo@acme.com", "Bo", ""]]
    rows += [["ANN@acme.com", "", "CEO"]]
    run = run_import(cast, "people", csv_file(tmp_path, rows))
    assert run.counts["created"] == 2
    assert run.counts["duplicates"] == 1
    ann = Person.objects.get(email="ann@acme.com")
    assert (ann.first_name, ann.title) == ("Ann", "CEO")


def test_duplicates_across_batches_are_merged_too(cast, tmp_path):
    rows = [["Email", "Title"]] + [[f"p{i}@acme.com", "Rep"] for i in range(5)] + [["p0@acme.com", "Lead rep"]]
    run = import_run_create(by=cast.revops, kind="people", path=csv_file(tmp_path, rows))
    run = import_run_execute(run_id=run.pk, batch_size=2)
    assert (run.created_count, run.duplicate_count, run.rows_read) == (5, 1, 6)
    assert Person.objects.get(email="p0@acme.com").title == "Lead rep"


def test_invalid_rows_are_reported_with_line_values_and_reasons_and_the_rest_imported(cast, tmp_path):
    rows = [
        ["Email", "First Name", "Create Date", "Lifecycle Stage", "Contact owner"],
        ["ann@acme.com", "Ann", "2024-01-05", "lead", ""],
        ["not-an-email", "Bo", "2024-01-06", "lead", ""],
        ["cy@acme.com", "Cy", "yesterday", "prospect", "nobody@example.com"],
        ["=cmd|' /C calc'!A0", "Eve", "2024-01-07", "lead", ""],
    ]
    run = run_import(cast, "people", csv_file(tmp_path, rows))
    assert (run.created_count, run.rejected_count) == (1, 3)
    with open(run.error_file, newline="", encoding="utf-8") as handle:
        report = list(csv.reader(handle))
    assert report[0] == ["tandem_error_line", "tandem_error", *rows[0]]
    assert report[1] == ["3", "Email: 'not-an-email' is not an email address", *rows[2]]
    assert report[2][0] == "4"
    assert "Create Date: 'yesterday' is not a date in the format YYYY-MM-DD" in report[2][1]
    assert "Lifecycle Stage: 'prospect' is not a known lifecycle stage" in report[2][1]
    assert "Owner: no user has the email 'nobody@example.com'" in report[2][1]
    assert report[3][2] == "'=cmd|' /C calc'!A0"  # neutralised for spreadsheets
    assert Person.objects.count() == 1


def test_a_value_repeated_in_a_column_is_read_the_same_on_every_row(cast, tmp_path, monkeypatch):
    # Each column remembers the outcome of a text it has read (value, blank or error); past the
    # limit it reads the rest afresh. Both ways give every row the same reading.
    monkeypatch.setattr("tandem.imports.services.CELL_CACHE_SIZE", 2)
    rows = [["Email", "First Name", "Create Date", "Lifecycle Stage", "custom.segment"]]
    for number in range(6):
        date = "someday" if number % 3 == 1 else "2024-01-05"
        rows.append([f"p{number}@acme.com", " Ann ", date, ["lead", "Marketing Qualified Lead"][number % 2], "SMB"])
    run = run_import(cast, "people", csv_file(tmp_path, rows))
    assert (run.created_count, run.rejected_count) == (4, 2)
    with open(run.error_file, newline="", encoding="utf-8") as handle:
        report = list(csv.reader(handle))[1:]
    assert [line for line, *_ in report] == ["3", "6"]
    assert {problem for _, problem, *_ in report} == {
        "Create Date: 'someday' is not a date in the format YYYY-MM-DD",
    }
    people = Person.objects.order_by("email")
    assert [(p.email, p.first_name, p.lifecycle_stage_id, p.custom_fields) for p in people] == [
        ("p0@acme.com", "Ann", "lead", {"segment": "SMB"}),
        ("p2@acme.com", "Ann", "lead", {"segment": "SMB"}),
        ("p3@acme.com", "Ann", "mql", {"segment": "SMB"}),
        ("p5@acme.com", "Ann", "mql", {"segment": "SMB"}),
    ]
    assert {p.created_at.isoformat() for p in people} == {"2024-01-05T00:00:00+00:00"}


def test_the_reader_keeps_no_row_alive_once_read(tmp_path):
    # A column remembers what a text read as, and why it could not be read: never the row it came from.
    import gc
    import weakref

    from tandem.imports.reading import Record, open_source
    from tandem.imports.services import RowReader, compile_plan

    rows = [["Email", "Create Date"], ["ann@acme.com", "2024-01-05"], ["not-an-email", "someday"]]
    source = open_source(csv_file(tmp_path, rows))
    reader = RowReader(compile_plan(Mapping(kind="people"), source))
    record = Record(line=3, values=["not-an-email", "someday"])
    parsed = reader.read(record)
    assert [where for where, _ in parsed.errors] == ["Email", "Create Date"]
    alive = weakref.ref(record)
    del record, parsed
    gc.collect()
    assert alive() is None
    again = reader.read(Record(line=4, values=["not-an-email", "someday"]))
    assert again.errors == [
        ("Email", "'not-an-email' is not an email address"),
        ("Create Date", "'someday' is not a date in the format YYYY-MM-DD"),
    ]


def test_a_corrected_error_report_imports_as_is(cast, tmp_path):
    rows = [["Email", "First Name"], ["ann@acme.com", "Ann"], ["bo@@acme.com", "Bo"]]
    run = run_import(cast, "people", csv_file(tmp_path, rows))
    report = tmp_path / "fixed.csv"
    text = Path(run.error_file).read_text(encoding="utf-8").replace("bo@@acme.com", "bo@acme.com")
    report.write_text(text, encoding="utf-8")
    again = run_import(cast, "people", report)
    assert (again.created_count, again.rejected_count) == (1, 0)
    assert Person.objects.filter(email="bo@acme.com").exists()


def test_people_are_linked_to_accounts_by_domain_name_or_email_and_new_companies_are_counted(cast, tmp_path):
    acme = make_account(name="Acme", domain="acme.com")
    globex = make_account(name="Globex Corp", domain="")
    rows = [
        ["Email", "Company", "Website"],
        ["ann@eu.acme.com", "", ""],
        ["bo@gmail.com", "Globex Corp", ""],
        ["cy@initech.example", "Initech", "https://www.initech.example/"],
        ["di@gmail.com", "Initech", ""],
        ["ed@gmail.com", "", ""],
    ]
    run = run_import(cast, "people", csv_file(tmp_path, rows))
    assert run.accounts_created_count == 1
    initech = Account.objects.get(name="Initech")
    assert initech.domain == "initech.example"
    linked = dict(Person.objects.values_list("email", "account_id"))
    assert linked == {
        "ann@eu.acme.com": acme.pk,
        "bo@gmail.com": globex.pk,
        "cy@initech.example": initech.pk,
        "di@gmail.com": initech.pk,
        "ed@gmail.com": None,
    }
    match = AccountMatch.objects.get(person__email="ann@eu.acme.com")
    assert (match.method, match.matched_domain) == ("email_domain", "acme.com")


def test_unknown_companies_are_rejected_when_account_creation_is_off(cast, tmp_path):
    rows = [["Email", "Company"], ["ann@x.example", "Nowhere Inc"]]
    run = run_import(cast, "people", csv_file(tmp_path, rows), Mapping(kind="people", create_accounts=False))
    assert run.rejected_count == 1
    assert Account.objects.count() == 0


def test_people_without_email_are_keyed_by_external_id(cast, tmp_path):
    rows = [["Prospect ID", "Lead Source", "Converted"], ["abc-1", "Google", "1"], ["abc-2", "Direct", "0"]]
    mapping = Mapping(
        kind="people",
        columns={"Converted": "lifecycle_stage"},
        values={"lifecycle_stage": {"1": "customer", "0": "lead"}},
    )
    run = run_import(cast, "people", csv_file(tmp_path, rows), mapping)
    assert run.created_count == 2
    assert dict(Person.objects.values_list("external_id", "lifecycle_stage_id")) == {
        "abc-1": "customer",
        "abc-2": "lead",
    }
    assert Person.objects.get(external_id="abc-1").source == "Google"


def test_an_email_that_belongs_to_someone_else_is_refused(cast, tmp_path):
    make_person(email="ann@acme.com", external_id="A-1")
    rows = [["External ID", "Email"], ["B-2", "ann@acme.com"]]
    run = run_import(cast, "people", csv_file(tmp_path, rows))
    assert run.rejected_count == 1
    assert Person.objects.count() == 1


def test_a_mapping_naming_a_missing_column_or_unknown_field_is_refused(cast, tmp_path):
    path = csv_file(tmp_path, [["Email"], ["ann@acme.com"]])
    with pytest.raises(MappingError, match="columns.Nope: the file has no column 'Nope'"):
        import_run_create(
            by=cast.revops, kind="people", path=path, mapping=Mapping(kind="people", columns={"Nope": "email"})
        )
    with pytest.raises(MappingError, match="columns.Email: 'shoe_size' is not a field of people"):
        Mapping(kind="people", columns={"Email": "shoe_size"})
    assert ImportRun.objects.count() == 0


def test_a_header_only_file_is_refused(cast, tmp_path):
    with pytest.raises(UnreadableFileError, match="a header row but no data rows"):
        import_run_create(by=cast.revops, kind="people", path=csv_file(tmp_path, [["Email", "Name"]]))


def test_opportunities_link_accounts_owners_and_stage_fields(cast, tmp_path):
    acme = make_account(name="Acme", domain="acme.com")
    rows = [
        ["Deal ID", "Deal Name", "Company", "Deal Stage", "Amount", "Close Date", "Deal owner"],
        ["D1", "Acme renewal", "acme", "closedwon", "$12,000.00", "03/15/2025", "Erin AE"],
        ["D2", "Acme upsell", "Acme", "Qualified To Buy", "5,000", "", "erin@example.com"],
        ["D3", "Ghost deal", "Nobody Ltd", "closedlost", "1", "03/15/2025", ""],
    ]
    run = run_import(cast, "opportunities", csv_file(tmp_path, rows))
    assert (run.created_count, run.rejected_count) == (2, 1)
    won = Opportunity.objects.get(external_id="D1")
    assert (won.account, won.stage_id, won.is_closed, won.is_won, won.probability) == (
        acme,
        "closed_won",
        True,
        True,
        100,
    )
    assert (won.amount, won.currency, won.owner, won.close_date.isoformat()) == (
        Decimal("12000.00"),
        "USD",
        cast.ae,
        "2025-03-15",
    )
    assert won.closed_at.date().isoformat() == "2025-03-15"
    open_deal = Opportunity.objects.get(external_id="D2")
    assert (open_deal.stage_id, open_deal.close_date, open_deal.forecast_category) == (
        "qualification",
        None,
        "pipeline",
    )
    assert OpportunityStageChange.objects.filter(opportunity=won, actor_type="import").count() == 1
    again = run_import(cast, "opportunities", csv_file(tmp_path, rows))
    assert (again.created_count, again.unchanged_count, again.rejected_count) == (0, 2, 1)


def test_a_run_stopped_mid_file_resumes_from_its_checkpoint_without_duplicates(cast, tmp_path):
    rows = [["Email", "Title"]] + [[f"p{i}@acme.com", f"T{i}"] for i in range(10)]
    run = import_run_create(by=cast.revops, kind="people", path=csv_file(tmp_path, rows))

    class WorkerKilled(BaseException):
        """Stands in for the process dying: no handler in the import runs."""

    def die_after_two_batches(current):
        if current.rows_read >= 6:
            raise WorkerKilled

    with pytest.raises(WorkerKilled):
        import_run_execute(run_id=run.pk, batch_size=3, progress=die_after_two_batches)
    run.refresh_from_db()
    assert (run.status, run.rows_read, run.line_done) == (ImportStatus.RUNNING, 6, 7)
    assert Person.objects.count() == 6
    run = import_run_execute(run_id=run.pk, batch_size=3)
    assert run.status == ImportStatus.DONE
    assert (run.rows_read, run.created_count, run.duplicate_count) == (10, 10, 0)
    assert Person.objects.count() == 10


def test_a_cancelled_run_keeps_what_was_committed(cast, tmp_path):
    rows = [["Email"]] + [[f"p{i}@acme.com"] for i in range(9)]
    run = import_run_create(by=cast.revops, kind="people", path=csv_file(tmp_path, rows))

    def cancel_after_first_batch(current):
        ImportRun.objects.filter(pk=current.pk).update(status=ImportStatus.CANCELLING)

    run = import_run_execute(run_id=run.pk, batch_size=3, progress=cancel_after_first_batch)
    assert (run.status, run.rows_read) == (ImportStatus.CANCELLED, 3)
    assert Person.objects.count() == 3


def test_preview_states_how_columns_are_read_and_how_values_map(cast, tmp_path):
    rows = [["Email", "Lifecycle Stage", "Create Date", "Shoe size"]]
    rows += [
        ["ann@acme.com", "marketingqualifiedlead", "25/12/2024", "42"],
        ["bo@acme.com", "other", "01/02/2025", "41"],
    ]
    run = import_run_create(by=cast.revops, kind="people", path=csv_file(tmp_path, rows))
    preview = import_preview(run=run)
    assert preview.skipped == ["Shoe size"]
    readings = {column["header"]: column["reading"] for column in preview.columns}
    assert readings["Create Date"].startswith("dates as DD/MM/YYYY")
    entries = {entry["value"]: entry["maps_to"] for entry in preview.value_maps[0]["entries"]}
    assert entries == {"marketingqualifiedlead": "mql", "other": None}
    assert preview.rows[1]["errors"] == [("Lifecycle Stage", preview.rows[1]["errors"][0][1])]


def test_remember_rebuilds_keys_so_a_resumed_run_still_sees_duplicates(cast, tmp_path):
    from tandem.imports.services import ParsedRow

    run = import_run_create(by=cast.revops, kind="people", path=csv_file(tmp_path, [["Email"], ["a@b.co"]]))
    from tandem.audit.actors import Actor
    from tandem.imports.mapping import build_plan

    plan = build_plan(Mapping(kind="people"), ["Email"], [["a@b.co"]], {})
    writer = PersonWriter(plan, run=run, actor=Actor.importer())
    writer.remember(ParsedRow(line=2, raw=["a@b.co"], values={"email": "a@b.co"}))
    assert ("e", "a@b.co") in writer.seen


def test_reimporting_a_file_with_duplicates_across_batches_changes_nothing(cast, tmp_path):
    rows = [["Email", "Title", "Phone", "Lifecycle Stage"]]
    rows += [[f"p{i}@acme.com", "Rep", f"+1 555 000{i}", "lead"] for i in range(5)]
    rows += [["p0@acme.com", "Lead rep", "", "mql"], ["P1@acme.com", "", "+1 555 1111", ""]]
    path = csv_file(tmp_path, rows)
    first = import_run_execute(run_id=import_run_create(by=cast.revops, kind="people", path=path).pk, batch_size=2)
    assert (first.created_count, first.duplicate_count, first.rejected_count) == (5, 2, 0)
    p0, p1 = Person.objects.get(email="p0@acme.com"), Person.objects.get(email="p1@acme.com")
    assert (p0.title, p0.phone, p0.lifecycle_stage_id) == ("Lead rep", "+1 555 0000", "mql")
    assert (p1.title, p1.phone) == ("Rep", "+1 555 1111")
    person_audits = AuditEntry.objects.filter(entity_type="crm.person").count()
    stage_changes = StageChange.objects.count()

    again = import_run_execute(run_id=import_run_create(by=cast.revops, kind="people", path=path).pk, batch_size=2)
    assert (again.created_count, again.updated_count, again.unchanged_count, again.duplicate_count) == (0, 0, 5, 2)
    assert AuditEntry.objects.filter(entity_type="crm.person").count() == person_audits
    assert StageChange.objects.count() == stage_changes
    p0.refresh_from_db()
    assert (p0.title, p0.phone, p0.lifecycle_stage_id) == ("Lead rep", "+1 555 0000", "mql")


def test_a_record_changed_since_the_import_is_compared_again_and_updated_from_the_merged_rows(cast, tmp_path):
    rows = [["Email", "Title"], ["ann@acme.com", "CTO"], ["bo@acme.com", "VP"], ["cy@acme.com", "CFO"]]
    rows += [["ann@acme.com", "CEO"]]
    path = csv_file(tmp_path, rows)
    import_run_execute(run_id=import_run_create(by=cast.revops, kind="people", path=path).pk, batch_size=2)
    Person.objects.filter(email="ann@acme.com").update(title="Intern", updated_at=timezone.now())
    Person.objects.filter(email="bo@acme.com").update(title="Intern")  # written without marking the change

    again = import_run_execute(run_id=import_run_create(by=cast.revops, kind="people", path=path).pk, batch_size=2)
    assert (again.updated_count, again.unchanged_count, again.duplicate_count) == (1, 2, 1)
    assert Person.objects.get(email="ann@acme.com").title == "CEO"
    entry = AuditEntry.objects.filter(entity_type="crm.person", summary__contains=f"import #{again.pk},").get()
    assert (entry.before, entry.after) == ({"title": "Intern"}, {"title": "CEO"})
    # A change that did not move updated_at is not seen: the rows are the ones the record was written from.
    assert Person.objects.get(email="bo@acme.com").title == "Intern"


def test_a_changed_row_or_mapping_is_read_again(cast, tmp_path):
    rows = [["Email", "Title"], ["ann@acme.com", "CTO"], ["bo@acme.com", "VP"]]
    run_import(cast, "people", csv_file(tmp_path, rows))
    rows[2][1] = "SVP"
    again = run_import(cast, "people", csv_file(tmp_path, rows))
    assert (again.updated_count, again.unchanged_count) == (1, 1)
    mapping = Mapping(kind="people", columns={"Title": None})
    third = run_import(cast, "people", csv_file(tmp_path, rows), mapping=mapping)
    assert (third.updated_count, third.unchanged_count) == (0, 2)
    assert Person.objects.get(email="bo@acme.com").title == "SVP"


def test_rows_rejected_before_are_rejected_again_on_reimport(cast, tmp_path):
    rows = [["Email", "Create Date"], ["ann@acme.com", "2024-01-05"], ["ann@acme.com", "yesterday"]]
    rows += [["bo@acme.com", "2024-01-06"]]
    path = csv_file(tmp_path, rows)
    first = run_import(cast, "people", path)
    assert (first.created_count, first.rejected_count, first.duplicate_count) == (2, 1, 0)
    again = run_import(cast, "people", path)
    assert (again.unchanged_count, again.rejected_count, again.duplicate_count) == (2, 1, 0)
    with open(again.error_file, newline="", encoding="utf-8") as handle:
        assert [line[0] for line in csv.reader(handle)] == ["tandem_error_line", "3"]


def test_a_stopped_reimport_resumes_with_the_rows_it_held_back(cast, tmp_path):
    rows = [["Email", "Title"]] + [[f"p{i}@acme.com", "Rep"] for i in range(5)] + [["p0@acme.com", "Lead rep"]]
    path = csv_file(tmp_path, rows)
    import_run_execute(run_id=import_run_create(by=cast.revops, kind="people", path=path).pk, batch_size=2)
    Person.objects.filter(email="p0@acme.com").update(title="Intern", updated_at=timezone.now())
    run = import_run_create(by=cast.revops, kind="people", path=path)

    class WorkerKilled(BaseException):
        """Stands in for the process dying: no handler in the import runs."""

    def die_after_two_batches(current):
        if current.rows_read >= 4:
            raise WorkerKilled

    with pytest.raises(WorkerKilled):
        import_run_execute(run_id=run.pk, batch_size=2, progress=die_after_two_batches)
    assert Person.objects.get(email="p0@acme.com").title == "Intern"  # its first row waits for its last
    run = import_run_execute(run_id=run.pk, batch_size=2)
    assert (run.rows_read, run.updated_count, run.unchanged_count, run.duplicate_count) == (6, 1, 4, 1)
    assert Person.objects.get(email="p0@acme.com").title == "Lead rep"
    entry = AuditEntry.objects.filter(entity_type="crm.person", summary__contains=f"import #{run.pk},").get()
    assert (entry.before, entry.after) == ({"title": "Intern"}, {"title": "Lead rep"})


def test_a_first_import_reads_each_row_once_and_stores_the_fingerprints_the_keyed_path_would(
    cast, tmp_path, monkeypatch
):
    from django.db import transaction

    rows = [["Email", "Record ID", "Title", "Create Date"]]
    rows += [[f"p{i}@acme.com", "", "Rep", "2024-01-05"] for i in range(5)]
    rows += [["p0@acme.com", "", "Lead rep", ""], ["P1@acme.com", "", "", "yesterday"], ["not-an-email", "x9", "", ""]]
    rows += [["", "x7", "CFO", ""], ["p3@acme.com", "", "", "2024-02-30"], ["p2@acme.com", "", "VP", ""]]
    path = csv_file(tmp_path, rows)
    read = []
    monkeypatch.setattr(
        "tandem.imports.services.RowReader.read_many",
        lambda self, records, original=RowReader.read_many: (
            read.extend(r.line for r in records) or original(self, records)
        ),
    )

    class Undo(Exception):
        pass

    outcomes = []
    for any_stored in (True, False):  # the keyed path (as on a re-import), then the first-import path
        monkeypatch.setattr(PersonWriter, "_any_stored", staticmethod(lambda value=any_stored: value))
        read.clear()
        try:
            with transaction.atomic():
                run = import_run_create(by=cast.revops, kind="people", path=path)
                run = import_run_execute(run_id=run.pk, batch_size=3)
                people = Person.objects.values_list(
                    "email", "external_id", "title", "import_fingerprint", "import_row_count"
                )
                outcomes.append((run.counts, sorted(people, key=str), sorted(read)))
                raise Undo
        except Undo:
            pass
    keyed, first = outcomes
    assert first[:2] == keyed[:2]
    assert first[0]["created"] == 6 and first[0]["duplicates"] == 2 and first[0]["rejected"] == 3
    assert all(person[4] for person in first[1]) and any(person[3] is not None for person in first[1])
    assert first[2] == list(range(2, len(rows) + 1))  # every row read once, in full


def test_a_run_holds_off_full_garbage_collections_and_restores_them(cast, tmp_path):
    import gc

    rows = [["Email"]] + [[f"p{i}@acme.com"] for i in range(5)]
    run = import_run_create(by=cast.revops, kind="people", path=csv_file(tmp_path, rows))
    during = []
    assert gc.isenabled()
    run = import_run_execute(run_id=run.pk, batch_size=2, progress=lambda current: during.append(gc.isenabled()))
    assert run.created_count == 5
    assert during[:2] == [False, False]  # after each batch: only that batch's garbage was collected
    assert gc.isenabled()


def test_keys_with_quotes_backslashes_and_accents_are_found_again(cast, tmp_path):
    awkward = ["x'1\"", "x\\2", "x{3},", "Zoë 4", "x[5]"]
    rows = [["Record ID", "Email", "Title"]] + [[key, f"p{i}@acme.com", "Rep"] for i, key in enumerate(awkward)]
    path = csv_file(tmp_path, rows)
    first = run_import(cast, "people", path, Mapping(kind="people", preset="hubspot"))
    assert first.created_count == 5
    again = run_import(cast, "people", path, Mapping(kind="people", preset="hubspot"))
    assert (again.unchanged_count, again.created_count) == (5, 0)
    rows[2][2] = "Lead rep"
    third = run_import(cast, "people", csv_file(tmp_path, rows), Mapping(kind="people", preset="hubspot"))
    assert (third.updated_count, third.unchanged_count, third.created_count) == (1, 4, 0)
    assert Person.objects.get(external_id="x\\2").title == "Lead rep"


def test_a_reimport_reaches_the_same_outcome_however_it_finds_the_stored_fingerprints_and_keys(
    cast, tmp_path, monkeypatch
):
    """Stored fingerprints read at once or batch by batch; keys read from the cell alone or the ordinary way."""
    from django.db import transaction

    from tandem.imports import writers
    from tandem.imports.fingerprints import RowFingerprints

    rows = [["Email", "Title", "Create Date"]]
    rows += [[f"p{i}@acme.com", "Rep", "2024-01-05"] for i in range(6)]
    rows += [["p0@acme.com", "Lead rep", ""], ["not-an-email", "CFO", ""], ["p7@acme.com", "VP", "someday"]]
    rows += [["p8@acme.com", "", ""]]
    path = csv_file(tmp_path, rows)
    import_run_execute(run_id=import_run_create(by=cast.revops, kind="people", path=path).pk, batch_size=3)
    Person.objects.filter(email="p2@acme.com").update(title="Intern", updated_at=timezone.now())
    # The same people, their keys written with spaces and capitals, and a key with a quote mark.
    rows[2][0], rows[4][0], rows[5][0] = " P1@Acme.com", "'p3@acme.com", "P4@ACME.COM\t"
    rows += [["p9@acme.com", "New", ""]]
    path = csv_file(tmp_path, rows, name="again.csv")
    read = []
    monkeypatch.setattr(
        "tandem.imports.services.RowReader.read_many",
        lambda self, records, original=RowReader.read_many: (
            read.extend(r.line for r in records) or original(self, records)
        ),
    )
    single_key, prefetch_all = RowFingerprints._single_key_column, PersonWriter._prefetch_fingerprints
    ways = []  # per run: (read the fingerprints at once, made keys from cells alone)

    class Undo(Exception):
        pass

    outcomes = {}
    for prefetch in (True, False):
        for by_cell in (True, False):
            monkeypatch.setattr(writers, "PREFETCH_MAX", 1_000 if prefetch else 0)
            monkeypatch.setattr(
                RowFingerprints,
                "_single_key_column",
                lambda self, by_cell=by_cell: (
                    ways.append(("key", found := single_key(self) if by_cell else None)) or found
                ),
            )
            monkeypatch.setattr(
                PersonWriter,
                "_prefetch_fingerprints",
                lambda self: ways.append(("prefetch", found := prefetch_all(self))) or found,
            )
            read.clear()
            try:
                with transaction.atomic():
                    run = import_run_create(by=cast.revops, kind="people", path=path)
                    run = import_run_execute(run_id=run.pk, batch_size=3)
                    people = Person.objects.values_list("email", "title", "import_fingerprint", "import_row_count")
                    outcomes[prefetch, by_cell] = (run.counts, sorted(people, key=str), sorted(read))
                    raise Undo
            except Undo:
                pass
    assert [(kind, found not in (None, False)) for kind, found in ways] == [
        ("key", True), ("prefetch", True), ("key", False), ("prefetch", True),
        ("key", True), ("prefetch", False), ("key", False), ("prefetch", False),
    ]  # fmt: skip
    counts, people, lines = outcomes[True, True]
    # A quote mark before text that is no formula is the text's own: "'p3@acme.com" is someone new.
    assert (counts["created"], counts["updated"], counts["unchanged"]) == (2, 1, 5)
    assert (counts["rejected"], counts["duplicates"]) == (2, 1)
    # Read: the rows whose cells changed (keys written differently, the new person), the person changed
    # since, the rejected rows; the others are settled from their fingerprints.
    assert lines == [3, 4, 5, 6, 9, 10, 12]
    assert all(outcome == (counts, people, lines) for outcome in outcomes.values())


def test_a_row_whose_keys_belong_to_two_records_of_the_file_is_rejected_not_merged(cast, tmp_path):
    rows = [["Record ID", "Email", "Title"], ["x1", "ann@acme.com", "CTO"], ["", "bo@acme.com", "VP"]]
    rows += [["x1", "bo@acme.com", "CFO"], ["x1", "", "CEO"]]
    run = run_import(cast, "people", csv_file(tmp_path, rows), Mapping(kind="people", preset="hubspot"))
    assert (run.created_count, run.rejected_count, run.duplicate_count) == (2, 1, 1)
    assert sorted(Person.objects.values_list("external_id", "email", "title"), key=str) == [
        ("x1", "ann@acme.com", "CEO"),
        (None, "bo@acme.com", "VP"),
    ]
    with open(run.error_file, newline="", encoding="utf-8") as handle:
        report = list(csv.reader(handle))
    assert [line[:2] for line in report[1:]] == [
        ["4", "row: its keys belong to two different records of this file (lines 2 and 3)"]
    ]
