"""The lifetime-value page, the refit form and the panels on the record pages."""

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from tandem.clv import services
from tandem.clv.models import ClvFit, CustomerValue
from tandem.clv.tests.factories import make_history

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 6, 30, 12, tzinfo=dt.UTC)


@time_machine.travel(NOW, tick=False)
def test_overview_shows_the_fit_and_a_histogram_per_kind(cast, client):
    make_history()
    fit = services.clv_refit(by=cast.revops)
    client.force_login(cast.ae)

    page = client.get(reverse("clv:overview")).content.decode()

    assert f"r {fit.r:.3f}" in page
    assert page.count("<svg") == 2
    # One bar per bin, each with its count in a title.
    assert page.count("<rect") == 40
    assert "12 valued" in page
    assert 'id="clv-refit-form"' not in page  # an AE does not refit


@time_machine.travel(NOW, tick=False)
def test_a_manager_refits_from_the_page_through_the_worker(cast, client):
    make_history()
    client.force_login(cast.sales_manager)

    response = client.post(reverse("clv:refit"), {"unit": "days", "horizon_months": "3"}, follow=True)

    fit = ClvFit.objects.get()
    assert (fit.unit, fit.horizon_months, fit.fitted_by) == ("days", 3, cast.sales_manager)
    assert CustomerValue.objects.count() == 24
    assert "Refit queued" in response.content.decode()


@time_machine.travel(NOW, tick=False)
def test_a_refit_is_refused_to_an_sdr_and_nothing_changes(cast, client):
    make_history()
    client.force_login(cast.sdr)
    assert client.post(reverse("clv:refit"), {"unit": "weeks", "horizon_months": "12"}).status_code == 403
    assert not ClvFit.objects.exists()


@time_machine.travel(NOW, tick=False)
def test_record_pages_show_historical_and_predicted_value(cast, client):
    accounts, people = make_history()
    services.clv_refit(by=cast.revops)
    client.force_login(cast.marketer)
    value = CustomerValue.objects.get(account=accounts[0])

    account_page = client.get(reverse("crm:account-detail", args=[accounts[0].pk])).content.decode()
    person_page = client.get(reverse("crm:person-detail", args=[people[0].pk])).content.decode()

    for page in (account_page, person_page):
        assert 'id="clv-panel"' in page
        assert "5,700 <span" in page  # historical: five won deals
        assert f'id="clv-predicted">{round(value.predicted_value):,}<' in page
    assert f'id="clv-alive">{round(value.probability_alive * 100)}%<' in account_page


def test_a_record_without_won_deals_says_so(cast, client):
    from tandem.crm.tests.factories import make_person

    person = make_person(email="new@example.com")
    client.force_login(cast.marketer)
    page = client.get(reverse("crm:person-detail", args=[person.pk])).content.decode()
    assert "No predicted value: no won deal yet." in page


@time_machine.travel(NOW, tick=False)
def test_the_people_list_page_filters_by_clv_min(cast, client):
    accounts, people = make_history()
    services.clv_refit(by=cast.revops)
    top = CustomerValue.objects.filter(person__isnull=False).order_by("-predicted_value").first()
    client.force_login(cast.marketer)

    page = client.get(reverse("crm:person-list"), {"clv_min": str(top.predicted_value)}).content.decode()

    assert top.person.email in page
    assert sum(person.email in page for person in people) == 1


@time_machine.travel(NOW, tick=False)
def test_the_accounts_list_filter_box_and_its_export_keep_to_the_same_accounts(cast, client):
    import csv
    import io

    accounts, _people = make_history()
    services.clv_refit(by=cast.revops)
    values = CustomerValue.objects.filter(account__isnull=False).order_by("-predicted_value")
    cutoff = values[2].predicted_value
    expected = sorted(value.account.name for value in values if value.predicted_value >= cutoff)
    assert 3 <= len(expected) < len(accounts)
    client.force_login(cast.revops)

    page = client.get(reverse("crm:account-list"), {"clv_min": str(cutoff)}).content.decode()
    assert f'name="clv_min" min="0" step="any" inputmode="decimal" value="{cutoff}"' in page
    assert sorted(account.name for account in accounts if f">{account.name}</a>" in page) == expected

    download = client.get(reverse("exports:download", args=["accounts", "csv"]), {"clv_min": str(cutoff)})
    rows = list(csv.DictReader(io.StringIO(b"".join(download.streaming_content).decode("utf-8-sig"))))
    assert sorted(row["name"] for row in rows) == expected
