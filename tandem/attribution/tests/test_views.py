"""The attribution page, the drill-down and the journey views through the HTTP client."""

import re

import pytest
from django.urls import reverse

from tandem.attribution.tests.factories import make_campaign, touch
from tandem.attribution.tests.test_reports import company  # noqa: F401 - the fixture

PERIOD = "from=2026-03-01&to=2026-03-30"


def _cells(html: str, campaign: str, css: str) -> str:
    row = re.search(rf'<tr data-campaign="{re.escape(campaign)}">(.*?)</tr>', html, re.S).group(1)
    return re.search(rf'<td class="num {css}">([^<]*)</td>', row).group(1)


def test_the_page_shows_each_campaigns_credit_under_the_chosen_model(client, cast, company):  # noqa: F811
    client.force_login(cast.sdr)
    url = reverse("attribution:page")
    html = client.get(f"{url}?conversion=closed_won&model=first_touch&{PERIOD}").content.decode()
    assert _cells(html, "Ads", "credit-value") == "10,000"
    assert _cells(html, "Newsletter", "credit-value") == "0"
    assert _cells(html, "Ads", "roi") == "233%"
    assert "100% to the first touch." in html
    assert 'id="comparison-chart"' in html and "<svg viewBox" in html
    assert "Ads — First touch: 10,000.00" in html
    assert '<tr data-channel="Paid search">' in html

    html = client.get(f"{url}?conversion=closed_won&model=last_touch&{PERIOD}").content.decode()
    assert _cells(html, "Ads", "credit-value") == "0"
    assert _cells(html, "Newsletter", "credit-value") == "10,000"
    assert _cells(html, "Newsletter", "roi") == "4900%"


def test_the_default_model_comes_from_the_contract(client, cast, company):  # noqa: F811
    client.force_login(cast.marketer)
    html = client.get(f"{reverse('attribution:page')}?{PERIOD}").content.decode()
    assert 'data-model="w_shaped"' in html
    assert "30% first touch, 30% the middle touch, 30% last touch, 10% shared by the others." in html


def test_an_htmx_request_gets_the_report_alone(client, cast, company):  # noqa: F811
    client.force_login(cast.marketer)
    response = client.get(f"{reverse('attribution:page')}?model=linear&{PERIOD}", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.startswith('<div id="attribution-report" data-model="linear"')
    assert "<aside" not in html


def test_bad_choices_are_named_and_the_page_still_answers(client, cast, company):  # noqa: F811
    client.force_login(cast.marketer)
    response = client.get(f"{reverse('attribution:page')}?model=best&conversion=sale&from=soon")
    assert response.status_code == 400
    html = response.content.decode()
    assert "model: &#x27;best&#x27; is not one of" in html
    assert "conversion: &#x27;sale&#x27; is not one of" in html
    assert "from: expected a date as YYYY-MM-DD, got &#x27;soon&#x27;." in html


def test_campaign_names_are_escaped(client, cast, company):  # noqa: F811
    evil = make_campaign("<script>alert(1)</script>", "email", cost="5")
    touch(company["bob"], evil, 9)
    client.force_login(cast.marketer)
    html = client.get(f"{reverse('attribution:page')}?model=linear&{PERIOD}").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_drill_down_lists_journeys_with_the_campaigns_share(client, cast, company):  # noqa: F811
    client.force_login(cast.ae)
    url = reverse("attribution:campaign-journeys", args=[company["ads"].id])
    html = client.get(f"{url}?conversion=closed_won&model=u_shaped&{PERIOD}").content.decode()
    assert "Journeys through Ads" in html
    assert "Ads › Webinar › Newsletter" in html
    assert "40.0%" in html and "100.0%" in html
    assert reverse("attribution:journey-account", args=[company["acme"].id]) in html
    assert client.get(reverse("attribution:campaign-journeys", args=[999999])).status_code == 404


def test_the_journey_of_a_person_and_of_an_account(client, cast, company):  # noqa: F811
    client.force_login(cast.sdr)
    html = client.get(reverse("attribution:journey-person", args=[company["ann"].id])).content.decode()
    assert "Journey of Ann" in html
    assert html.count('class="card journey-conversion"') == 3
    assert "No touch in the lookback window" in html  # the person was created before any touch
    html = client.get(reverse("attribution:journey-account", args=[company["acme"].id])).content.decode()
    assert "Closed won: Acme deal" in html
    assert "<td>Bob</td>" in html
    assert client.get(reverse("attribution:journey-account", args=[999999])).status_code == 404


def test_the_record_pages_link_to_the_journey(client, cast, company):  # noqa: F811
    client.force_login(cast.sdr)
    html = client.get(reverse("crm:person-detail", args=[company["ann"].id])).content.decode()
    assert reverse("attribution:journey-person", args=[company["ann"].id]) in html


@pytest.mark.parametrize("name", ["page", "journey-person"])
def test_signed_out_visitors_are_sent_to_sign_in(client, db, name):
    args = [1] if name == "journey-person" else []
    response = client.get(reverse(f"attribution:{name}", args=args))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_only_active_users_may_read_attribution(cast):
    from tandem.attribution.permissions import can_view_attribution

    assert all(can_view_attribution(user) for user in (cast.marketer, cast.sdr, cast.ae, cast.leadership))
    cast.sdr.is_active = False
    assert not can_view_attribution(cast.sdr)
    assert not can_view_attribution(None)
