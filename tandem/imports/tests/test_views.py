"""The import wizard through the HTTP client: upload, map, preview, run, progress, result, and who may."""

import csv
import io
import json
import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tandem.audit.models import AuditEntry
from tandem.crm.models import Person
from tandem.imports.models import ImportRun, ImportStatus, SavedMapping
from tandem.imports.services import import_run_create
from tandem.imports.uploads import uploads_dir

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"


def csv_bytes(rows) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode("utf-8")


PEOPLE = [
    ["Email", "First Name", "Lifecycle Stage", "Shoe Size"],
    ["ann@acme.com", "Ann", "Lead", "38"],
    ["bo@acme.com", "Bo", "Hot lead", "44"],
    ["cy@acme.com", "Cy", "MQL", "41"],
]


def upload(client, content: bytes, *, name="people.csv", kind="people", mapping="auto", mapping_file=None):
    data = {"kind": kind, "mapping": mapping, "file": SimpleUploadedFile(name, content, content_type="text/csv")}
    if mapping_file is not None:
        data["mapping_file"] = SimpleUploadedFile("mapping.json", mapping_file, content_type="application/json")
    return client.post(reverse("imports:new"), data)


def token_of(response) -> str:
    assert response.status_code == 302, response.content.decode()[:2000]
    return re.search(r"/imports/uploads/([0-9a-f]{32})/mapping/", response["Location"])[1]


def mapping_post(client, token, columns: dict[int, str], **options):
    data = {"date_order": "mdy", "number_style": "", "time_zone": "UTC", "create_accounts": "on", **options}
    data.update({f"column_{index}": target for index, target in columns.items()})
    return client.post(reverse("imports:mapping", args=[token]), data)


def press_run(client, token, capture):
    """Press Run; the worker's task (immediate in tests) starts when the request's transaction commits."""
    with capture(execute=True):
        return client.post(reverse("imports:preview", args=[token]), {"action": "run"})


def selected_target(page: str, index: int) -> str:
    select = re.search(rf'<select name="column_{index}".*?</select>', page, re.S)[0]
    chosen = re.search(r'<option value="([^"]*)" selected>', select)
    return chosen[1] if chosen else ""


def test_the_wizard_imports_people_from_upload_to_result(client, cast, django_capture_on_commit_callbacks):
    client.force_login(cast.marketing_manager)

    token = token_of(upload(client, csv_bytes(PEOPLE)))
    page = client.get(reverse("imports:mapping", args=[token])).content.decode()
    assert [selected_target(page, index) for index in range(4)] == ["email", "first_name", "lifecycle_stage", ""]
    assert "ann@acme.com · bo@acme.com · cy@acme.com" in page
    assert "email addresses, stored in lower case" in page

    response = mapping_post(
        client, token, {0: "email", 1: "first_name", 2: "lifecycle_stage", 3: "custom.shoe_size"}, save_as="Shoes"
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("imports:preview", args=[token])
    saved = SavedMapping.objects.get(name="Shoes")
    assert (saved.kind, saved.mapping["columns"]["Shoe Size"]) == ("people", "custom.shoe_size")

    preview = client.get(reverse("imports:preview", args=[token])).content.decode()
    assert "CSV, utf-8, comma-separated" in preview
    assert "Line 3</strong>: Lifecycle Stage: &#x27;Hot lead&#x27; is not a known lifecycle stage" in preview
    assert ImportRun.objects.count() == 0 and Person.objects.count() == 0

    response = press_run(client, token, django_capture_on_commit_callbacks)
    run = ImportRun.objects.get()
    assert response["Location"] == reverse("imports:detail", args=[run.pk])
    assert (run.status, run.created_by, run.original_filename) == (
        ImportStatus.DONE,
        cast.marketing_manager,
        "people.csv",
    )
    assert (run.rows_read, run.created_count, run.rejected_count) == (3, 2, 1)
    assert sorted(Person.objects.values_list("email", "custom_fields")) == [
        ("ann@acme.com", {"shoe_size": "38"}),
        ("cy@acme.com", {"shoe_size": "41"}),
    ]
    assert list(
        AuditEntry.objects.filter(entity_type="imports.importrun", entity_id=run.pk)
        .order_by("id")
        .values_list("action", "actor")
    ) == [("queue", cast.marketing_manager.pk), ("import", cast.marketing_manager.pk)]

    result = client.get(response["Location"]).content.decode()
    assert '<div class="value" id="count-created">2</div>' in result
    assert '<div class="value" id="count-rejected">1</div>' in result
    assert "<strong>3</strong> rows done of 3 · 100% of the file" in result
    assert "hx-trigger" not in result
    assert reverse("imports:errors", args=[run.pk]) in result

    # Pressing Run again (a second tab, the back button) does not import the file twice.
    again = press_run(client, token, django_capture_on_commit_callbacks)
    assert again["Location"] == reverse("imports:detail", args=[run.pk])
    assert ImportRun.objects.count() == 1


def test_the_error_report_lists_line_problems_and_original_cells(client, cast, django_capture_on_commit_callbacks):
    client.force_login(cast.revops)
    token = token_of(upload(client, csv_bytes(PEOPLE)))
    press_run(client, token, django_capture_on_commit_callbacks)
    run = ImportRun.objects.get()

    response = client.get(reverse("imports:errors", args=[run.pk]))

    assert response["Content-Disposition"] == f'attachment; filename="people-{run.pk}-errors.csv"'
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8"))))
    assert rows[0] == ["tandem_error_line", "tandem_error", "Email", "First Name", "Lifecycle Stage", "Shoe Size"]
    assert rows[1][0] == "3"
    assert rows[1][1].startswith("Lifecycle Stage: 'Hot lead' is not a known lifecycle stage")
    assert rows[1][2:] == ["bo@acme.com", "Bo", "Hot lead", "44"]
    assert len(rows) == 2


def test_a_value_map_chosen_on_the_preview_is_used_by_the_run(client, cast, django_capture_on_commit_callbacks):
    client.force_login(cast.revops)
    token = token_of(upload(client, csv_bytes(PEOPLE)))
    page = client.get(reverse("imports:preview", args=[token])).content.decode()
    assert '<tr data-value="Hot lead"><td>Hot lead</td><td class="num">1</td>' in page
    values = re.findall(r'name="vm-0-(\d+)-value" value="([^"]+)"', page)
    assert sorted(text for _, text in values) == ["Hot lead", "Lead", "MQL"]
    number = next(number for number, text in values if text == "Hot lead")

    response = client.post(
        reverse("imports:preview", args=[token]),
        {
            "action": "values",
            "value_map_count": "1",
            "vm-0-field": "lifecycle_stage",
            "vm-0-count": "3",
            **{f"vm-0-{n}-value": text for n, text in values},
            **{f"vm-0-{n}": {"Lead": "lead", "MQL": "mql", "Hot lead": "mql"}[text] for n, text in values},
        },
    )
    assert response.status_code == 302
    page = client.get(reverse("imports:preview", args=[token])).content.decode()
    assert "1 value mapping changed." in page
    assert re.search(rf'name="vm-0-{number}"[^>]*>.*?<option value="mql" selected>', page, re.S)
    assert "None in the first 3 rows" in page

    press_run(client, token, django_capture_on_commit_callbacks)
    assert ImportRun.objects.get().created_count == 3
    assert Person.objects.get(email="bo@acme.com").lifecycle_stage_id == "mql"


def test_a_saved_mapping_or_an_uploaded_mapping_file_is_offered_and_used(client, cast):
    client.force_login(cast.revops)
    mapping = {"kind": "people", "columns": {"Shoe Size": "custom.size", "First Name": None}}
    token = token_of(upload(client, csv_bytes(PEOPLE), mapping="file", mapping_file=json.dumps(mapping).encode()))
    page = client.get(reverse("imports:mapping", args=[token])).content.decode()
    assert [selected_target(page, index) for index in range(4)] == ["email", "", "lifecycle_stage", "custom.size"]
    assert "starting from the mapping file mapping.json" in page

    mapping_post(client, token, {0: "email", 1: "", 2: "lifecycle_stage", 3: "custom.size"}, save_as="Sizes")
    saved = SavedMapping.objects.get(name="Sizes")
    form = client.get(reverse("imports:new")).content.decode()
    assert f'<option value="saved:{saved.pk}">Saved: Sizes (People)</option>' in form

    token = token_of(upload(client, csv_bytes(PEOPLE), mapping=f"saved:{saved.pk}"))
    page = client.get(reverse("imports:mapping", args=[token])).content.decode()
    assert [selected_target(page, index) for index in range(4)] == ["email", "", "lifecycle_stage", "custom.size"]
    assert "starting from the saved mapping &#x27;Sizes&#x27;" in page


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"%PDF-1.4 binary", "this is a PDF document, not a CSV or XLSX file."),
        (b"Email,Name\n", "the file has a header row but no data rows."),
        ("Email,Name\nann@acme.com,Zoë\n".encode() + "bo@acme.com,Zoë\n".encode("cp1252"), "line 3: this line is"),
        (b"Email,Email\nann@acme.com,ann@acme.com\n", "the header names &#x27;Email&#x27; twice"),
        (b"\x00\x01\x02binary", "this looks like a binary file (it holds NUL bytes)"),
    ],
)
def test_an_unreadable_file_is_refused_on_the_upload_page_with_the_reason(client, cast, content, message):
    client.force_login(cast.revops)

    response = upload(client, content, name="bad.csv")

    assert response.status_code == 200
    page = response.content.decode()
    assert f"bad.csv: {message}" in page or message in page
    assert "Nothing was imported." in page
    assert list(uploads_dir().iterdir()) == []
    assert ImportRun.objects.count() == 0


def test_an_empty_file_is_refused(client, cast):
    client.force_login(cast.revops)

    page = upload(client, b"", name="empty.csv").content.decode()

    assert "The submitted file is empty." in page or "The file is empty." in page
    assert ImportRun.objects.count() == 0


def test_a_file_over_the_size_limit_is_refused_with_the_limit_named(client, cast, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 100
    client.force_login(cast.revops)

    small_request = upload(client, b"Email\n" + b"a@b.co\n" * 20)
    assert "The file is larger than 100\xa0bytes, the most this server accepts for an import." in (
        small_request.content.decode()
    )

    settings.IMPORT_MAX_UPLOAD_BYTES = 10
    large_request = upload(client, b"Email\n" + b"a@b.co\n" * 20000)
    assert large_request.status_code == 413
    assert "The file is larger than 10\xa0bytes" in large_request.content.decode()
    assert list(uploads_dir().iterdir()) == []


def test_a_bad_mapping_file_is_refused_naming_the_problem(client, cast):
    client.force_login(cast.revops)

    not_json = upload(client, csv_bytes(PEOPLE), mapping="file", mapping_file=b'{"kind": "people",').content.decode()
    assert "the mapping file is not JSON (line 1: Expecting property name enclosed in double quotes)" in not_json

    wrong_field = json.dumps({"kind": "people", "columns": {"Email": "shoe"}}).encode()
    page = upload(client, csv_bytes(PEOPLE), mapping="file", mapping_file=wrong_field).content.decode()
    assert "columns.Email: &#x27;shoe&#x27; is not a field of people" in page

    wrong_kind = json.dumps({"kind": "accounts"}).encode()
    page = upload(client, csv_bytes(PEOPLE), mapping="file", mapping_file=wrong_kind).content.decode()
    assert "kind: this mapping is for accounts, not people" in page
    assert list(uploads_dir().iterdir()) == []


def test_a_mapping_naming_a_column_the_file_lacks_is_shown_and_can_be_fixed(client, cast):
    client.force_login(cast.revops)
    mapping = json.dumps({"kind": "people", "columns": {"E-mail address": "email"}}).encode()
    token = token_of(upload(client, csv_bytes(PEOPLE), mapping="file", mapping_file=mapping))

    page = client.get(reverse("imports:mapping", args=[token])).content.decode()

    assert "columns.E-mail address: the file has no column &#x27;E-mail address&#x27;" in page
    assert selected_target(page, 0) == "email"
    assert mapping_post(client, token, {0: "email", 1: "first_name"}).status_code == 302


def test_two_columns_for_one_field_or_none_at_all_are_refused(client, cast):
    client.force_login(cast.revops)
    token = token_of(upload(client, csv_bytes(PEOPLE)))

    twice = mapping_post(client, token, {0: "email", 1: "email"}).content.decode()
    assert "&#x27;Email&#x27; already goes to this field; choose another field or skip one of them." in twice

    nothing = mapping_post(client, token, {}).content.decode()
    assert "Choose a field for at least one column." in nothing

    bad_zone = mapping_post(client, token, {0: "email"}, time_zone="Mars/Olympus").content.decode()
    assert "time_zone: &#x27;Mars/Olympus&#x27; is not a time zone name" in bad_zone


def test_the_preview_says_when_no_column_identifies_the_records(client, cast):
    client.force_login(cast.revops)
    token = token_of(upload(client, csv_bytes([["First Name"], ["Ann"]])))

    page = client.get(reverse("imports:preview", args=[token])).content.decode()

    assert "No column maps to external_id or email, which identify people." in page


def test_who_may_import(client, cast):
    content = csv_bytes(PEOPLE)
    for user in (cast.marketer, cast.sdr, cast.ae, cast.leadership):
        client.force_login(user)
        assert client.get(reverse("imports:list")).status_code == 403
        assert client.get(reverse("imports:new")).status_code == 403
        assert upload(client, content).status_code == 403
        assert "Imports</a>" not in client.get(reverse("home")).content.decode()
    assert list(uploads_dir().iterdir()) == []

    client.force_login(cast.sales_manager)
    assert "Imports</a>" in client.get(reverse("home")).content.decode()
    page = client.get(reverse("imports:new")).content.decode()
    assert '<option value="users">' not in page and '<option value="opportunities">' in page
    users_file = csv_bytes([["Email", "Name"], ["new@example.com", "New"]])
    assert "Select a valid choice. users is not one of the available choices." in (
        upload(client, users_file, kind="users").content.decode()
    )

    client.force_login(cast.revops)
    assert '<option value="users">' in client.get(reverse("imports:new")).content.decode()


def test_an_upload_is_only_its_uploaders(client, cast, django_capture_on_commit_callbacks):
    client.force_login(cast.marketing_manager)
    token = token_of(upload(client, csv_bytes(PEOPLE)))

    client.force_login(cast.sales_manager)
    assert client.get(reverse("imports:mapping", args=[token])).status_code == 404
    assert press_run(client, token, django_capture_on_commit_callbacks).status_code == 404
    assert client.get(reverse("imports:mapping", args=["..%2f..%2fetc"])).status_code == 404
    assert client.get(reverse("imports:mapping", args=["0" * 32])).status_code == 404
    assert ImportRun.objects.count() == 0


def make_run(cast, tmp_path, *, by, status, rows=9, **fields):
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes([["Email"]] + [[f"p{number}@acme.com"] for number in range(rows)]))
    run = import_run_create(by=by, kind="people", path=path)
    ImportRun.objects.filter(pk=run.pk).update(status=status, **fields)
    run.refresh_from_db()
    return run


def test_the_progress_panel_polls_while_the_run_is_under_way(client, cast, tmp_path):
    run = make_run(cast, tmp_path, by=cast.marketing_manager, status=ImportStatus.RUNNING, rows_read=3, created_count=3)
    ImportRun.objects.filter(pk=run.pk).update(position=run.progress_total // 2)
    client.force_login(cast.marketing_manager)

    panel = client.get(reverse("imports:status", args=[run.pk]), headers={"HX-Request": "true"}).content.decode()

    assert f'hx-get="{reverse("imports:status", args=[run.pk])}" hx-trigger="every 1s"' in panel
    assert '<progress id="run-progress" max="100" value="50"' in panel
    assert "<strong>3</strong> rows done of about 6 · 50% of the file" in panel
    assert '<div class="value" id="count-created">3</div>' in panel
    assert 'id="cancel-import"' in panel
    assert "<html" not in panel


def test_the_progress_panel_says_when_a_bulk_load_is_finishing(client, cast, tmp_path):
    run = make_run(cast, tmp_path, by=cast.marketing_manager, status=ImportStatus.RUNNING, rows_read=9, created_count=9)
    client.force_login(cast.marketing_manager)
    url = reverse("imports:status", args=[run.pk])
    assert 'id="run-phase"' not in client.get(url, headers={"HX-Request": "true"}).content.decode()

    ImportRun.objects.filter(pk=run.pk).update(position=run.progress_total, load_path="bulk", phase="finishing")
    panel = client.get(url, headers={"HX-Request": "true"}).content.decode()

    assert '<span id="run-phase">Loading the staged records and rebuilding indexes</span>' in panel
    assert 'hx-trigger="every 1s"' in panel


def test_cancel_stops_a_run_and_is_audited(client, cast, tmp_path):
    run = make_run(cast, tmp_path, by=cast.marketing_manager, status=ImportStatus.RUNNING)

    client.force_login(cast.sales_manager)
    assert client.post(reverse("imports:cancel", args=[run.pk])).status_code == 403
    run.refresh_from_db()
    assert run.status == ImportStatus.RUNNING
    assert 'id="cancel-import"' not in client.get(reverse("imports:detail", args=[run.pk])).content.decode()

    client.force_login(cast.marketing_manager)
    panel = client.post(reverse("imports:cancel", args=[run.pk]), headers={"HX-Request": "true"}).content.decode()
    run.refresh_from_db()
    assert run.status == ImportStatus.CANCELLING
    assert 'id="run-status-label">Cancelling</span>' in panel
    assert AuditEntry.objects.filter(entity_id=run.pk, action="cancel", actor=cast.marketing_manager).count() == 1

    queued = make_run(cast, tmp_path, by=cast.marketing_manager, status=ImportStatus.QUEUED)
    client.force_login(cast.revops)
    response = client.post(reverse("imports:cancel", args=[queued.pk]))
    queued.refresh_from_db()
    assert (response.status_code, queued.status) == (302, ImportStatus.CANCELLED)


def test_the_list_shows_who_when_which_file_status_and_counts(client, cast, tmp_path):
    done = make_run(
        cast,
        tmp_path,
        by=cast.revops,
        status=ImportStatus.DONE,
        rows_read=9,
        created_count=7,
        updated_count=1,
        unchanged_count=0,
        rejected_count=1,
        original_filename="<b>leads</b>.csv",
    )
    client.force_login(cast.marketing_manager)

    page = client.get(reverse("imports:list")).content.decode()

    row = re.search(rf'<tr><td><a href="/imports/{done.pk}/">{done.pk}</a>.*?</tr>', page, re.S)[0]
    assert "&lt;b&gt;leads&lt;/b&gt;.csv" in row and "<b>leads" not in row
    assert "<td>Rita RevOps</td>" in row
    assert done.created_at.strftime("%Y-%m-%d") in row
    assert '<span class="badge won">Done</span>' in row
    cells = re.findall(r'<td class="num">([^<]*)</td>', row)
    assert cells == ["9", "7", "1", "0", "1"]


def test_a_failed_run_shows_its_reason(client, cast, tmp_path):
    run = make_run(cast, tmp_path, by=cast.revops, status=ImportStatus.FAILED, failure="the file vanished")
    client.force_login(cast.revops)

    page = client.get(reverse("imports:detail", args=[run.pk])).content.decode()

    assert "The import stopped: the file vanished" in page
    assert "hx-trigger" not in page
    assert client.get(reverse("imports:errors", args=[run.pk])).status_code == 404


def test_uploads_never_run_and_files_past_retention_are_discarded_but_runs_and_reports_stay(
    client, cast, settings, django_capture_on_commit_callbacks
):
    import datetime as dt

    import time_machine
    from django.utils import timezone

    from tandem.imports.uploads import uploads_clean, uploads_dir

    client.force_login(cast.marketing_manager)
    with time_machine.travel(timezone.now() - dt.timedelta(days=40)):
        imported = token_of(upload(client, csv_bytes(PEOPLE)))
        mapping_post(client, imported, {0: "email", 1: "first_name", 2: "lifecycle_stage"})
        press_run(client, imported, django_capture_on_commit_callbacks)
        forgotten = token_of(upload(client, csv_bytes(PEOPLE)))
    fresh = token_of(upload(client, csv_bytes(PEOPLE)))
    run = ImportRun.objects.get()
    report = run.error_file
    assert Path(run.file_path).is_file() and Path(report).is_file()

    assert uploads_clean() == {"abandoned_uploads": 1, "expired_files": 1}
    assert sorted(folder.name for folder in uploads_dir().iterdir()) == [fresh]
    run.refresh_from_db()
    assert (run.status, run.file_path, run.created_count) == (ImportStatus.DONE, "", 2)
    assert Path(report).is_file()
    assert client.get(reverse("imports:detail", args=[run.pk])).status_code == 200
    assert client.get(reverse("imports:mapping", args=[forgotten])).status_code == 404
    assert AuditEntry.objects.filter(action="import_file_discard", entity_id=run.pk).count() == 1
    assert uploads_clean() == {"abandoned_uploads": 0, "expired_files": 0}
