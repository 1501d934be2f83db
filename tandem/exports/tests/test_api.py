"""The export endpoints of the HTTP API, end to end through the test client."""

import csv
import io

import pytest
from django.core.cache import cache
from openpyxl import load_workbook

from tandem.audit.models import AuditEntry
from tandem.exports import services
from tandem.exports.models import Export
from tandem.exports.tests.factories import make_records
from tandem.integrations.tests.api_client import ApiClient, make_token

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_budgets():
    cache.clear()


@pytest.fixture
def records(cast):
    return make_records(cast)


@pytest.fixture
def api(client, cast):
    return ApiClient(client, make_token(cast.sdr, name="Nightly sync"))


def _csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode(), newline="")))


def test_people_export_streams_csv_with_the_list_filters(api, records, cast):
    response = api.get("/people/export", {"stage": ["opportunity", "lead"], "owner": "me"})

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="people-')
    assert response["Content-Disposition"].endswith('.csv"')
    rows = _csv_rows(response)
    assert [row[:3] for row in rows] == [
        ["id", "external_id", "email"],
        [str(records["pat"].pk), "P-1", "pat@acme.com"],
    ]


@pytest.mark.parametrize(
    ("path", "params", "expected"),
    [
        ("/accounts/export", {"is_target_account": "true"}, "account"),
        ("/opportunities/export", {"stage": "proposal", "is_open": "true"}, "deal"),
        ("/touchpoints/export", {"type": "form_submit"}, "anonymous"),
        ("/people/export", {"owner": "none"}, "kim"),
    ],
)
def test_every_list_exports_with_its_filters(api, records, path, params, expected):
    response = api.get(path, params)

    assert response.status_code == 200
    assert [row[0] for row in _csv_rows(response)[1:]] == [str(records[expected].pk)]


def test_xlsx_export_is_a_workbook(api, records):
    response = api.get("/opportunities/export", {"format": "xlsx"})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert response["Content-Disposition"].endswith('.xlsx"')
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert [row[:3] for row in rows] == [
        ("id", "external_id", "name"),
        (records["deal"].pk, "O-1", "Acme platform"),
        (records["open_deal"].pk, None, "'@renewal"),
    ]


def test_export_without_credentials_is_refused_with_401(client, records):
    response = ApiClient(client, None).get("/people/export")

    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication required: send 'Authorization: Bearer <token>'."}
    assert not Export.objects.exists()


def test_export_with_a_revoked_or_unknown_token_is_refused_with_401(client, records):
    response = ApiClient(client, "tdm_not-a-token").get("/accounts/export")

    assert response.status_code == 401
    assert response.json() == {"detail": "The API token is not valid or has been revoked."}


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/people/export", {"stage": "nope"}, "stage"),
        ("/people/export", {"lead_status": "nope"}, "lead_status"),
        ("/people/export", {"owner": "someone"}, "owner"),
        ("/people/export", {"format": "pdf"}, "format"),
        ("/accounts/export", {"icp_tier": "x"}, "icp_tier"),
        ("/opportunities/export", {"forecast_category": "maybe"}, "forecast_category"),
        ("/opportunities/export", {"stage": "won"}, "stage"),
        ("/touchpoints/export", {"occurred_from": "yesterday"}, "occurred_from"),
        ("/touchpoints/export", {"channel": "tv"}, "channel"),
    ],
)
def test_a_bad_filter_is_refused_with_422_naming_the_field(api, records, path, params, field):
    response = api.get(path, params)

    assert response.status_code == 422
    assert [problem["field"] for problem in response.json()["detail"]] == [field]
    assert not Export.objects.exists()


def test_xlsx_over_the_sheet_limit_is_refused_with_422_naming_format(api, records, monkeypatch):
    monkeypatch.setattr(services, "XLSX_MAX_DATA_ROWS", 1)

    response = api.get("/people/export", {"format": "xlsx"})

    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "field": "format",
                "message": (
                    "An XLSX sheet holds at most 1 rows; these people are 2. Export to CSV, or narrow the filters."
                ),
            }
        ]
    }


def test_an_api_export_is_audited_as_the_token(api, records, cast):
    _csv_rows(api.get("/people/export", {"q": "pat"}))

    entry = AuditEntry.objects.get(action="export")
    assert (entry.actor, entry.actor_label) == (cast.sdr, "API: Sam SDR via token 'Nightly sync'")
    assert entry.after["filters"] == {"search": "pat"}
    assert entry.after["row_count"] == 1


def test_the_export_paths_do_not_shadow_records(api, records):
    assert api.get(f"/people/{records['pat'].pk}").json()["email"] == "pat@acme.com"
    assert api.get("/people/export").status_code == 200
