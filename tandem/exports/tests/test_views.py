"""Export buttons on the list pages: they keep the page's filters and download what it shows."""

import csv
import html
import io
import re

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from tandem.audit.models import AuditEntry
from tandem.exports.models import Export
from tandem.exports.tests.factories import make_records

pytestmark = pytest.mark.django_db


@pytest.fixture
def records(cast):
    return make_records(cast)


def _export_links(response) -> dict[str, str]:
    page = response.content.decode()
    return {
        name: html.unescape(re.search(rf'id="export-{name}" href="([^"]+)"', page).group(1)) for name in ("csv", "xlsx")
    }


def _csv_ids(response) -> list[str]:
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode(), newline="")))
    return [row[0] for row in rows[1:]]


@pytest.mark.parametrize(
    ("list_url", "query", "export_path"),
    [
        ("crm:person-list", "stage=opportunity&owner=me&sort=name&cursor=abc", "/exports/people"),
        ("crm:account-list", "target=1&q=Ac", "/exports/accounts"),
        ("crm:opportunity-list", "status=open&stage=proposal", "/exports/opportunities"),
    ],
)
def test_export_buttons_keep_the_list_filters(client, cast, list_url, query, export_path):
    client.force_login(cast.sdr)

    response = client.get(f"{reverse(list_url)}?{query}")

    kept = query.replace("&cursor=abc", "")
    assert _export_links(response) == {"csv": f"{export_path}.csv?{kept}", "xlsx": f"{export_path}.xlsx?{kept}"}


def test_export_buttons_without_filters_export_everything(client, cast):
    client.force_login(cast.leadership)

    response = client.get(reverse("crm:person-list"))

    assert _export_links(response) == {"csv": "/exports/people.csv", "xlsx": "/exports/people.xlsx"}


def test_the_csv_button_downloads_the_rows_the_page_shows(client, cast, records):
    client.force_login(cast.sdr)
    page = client.get(reverse("crm:person-list") + "?owner=me")
    shown = [str(person.pk) for person in page.context["page"].rows]

    response = client.get(_export_links(page)["csv"])

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="people-')
    assert _csv_ids(response) == shown == [str(records["pat"].pk)]
    entry = AuditEntry.objects.get(action="export")
    assert (entry.actor, entry.after["filters"], entry.after["row_count"]) == (cast.sdr, {"owner_id": cast.sdr.pk}, 1)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["deal", "open_deal"]),
        ("?status=closed", []),
        ("?forecast_category=pipeline", ["open_deal"]),
        ("?q=platform", ["deal"]),
    ],
)
def test_the_opportunity_buttons_download_the_filtered_list(client, cast, records, query, expected):
    client.force_login(cast.marketer)

    response = client.get(f"/exports/opportunities.csv{query}")

    assert _csv_ids(response) == [str(records[name].pk) for name in expected]


def test_the_xlsx_button_downloads_a_workbook(client, cast, records):
    client.force_login(cast.leadership)

    response = client.get("/exports/accounts.xlsx?target=1")

    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True).active
    assert [row[:3] for row in sheet.iter_rows(values_only=True)] == [
        ("id", "external_id", "name"),
        (records["account"].pk, "ACC-1", "Acme"),
    ]


def test_a_bad_filter_goes_back_to_the_list_with_a_message(client, cast, records):
    client.force_login(cast.sdr)

    response = client.get("/exports/people.csv?stage=nope&q=x", follow=True)

    assert response.redirect_chain == [("/people/?stage=nope&q=x", 302)]
    assert [str(message) for message in response.context["messages"]] == [
        "Nothing was exported. stage: Unknown stage 'nope'; expected one of subscriber, lead, mql, sal, sql, "
        "opportunity, customer, evangelist, recycled, disqualified, churned."
    ]
    assert not Export.objects.exists()


def test_signed_out_visitors_are_sent_to_sign_in(client, records):
    response = client.get("/exports/people.csv")

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert not Export.objects.exists()


def test_an_unknown_list_is_not_found(client, cast):
    client.force_login(cast.sdr)

    assert client.get("/exports/campaigns.csv").status_code == 404
    assert client.get("/exports/people.pdf").status_code == 404
