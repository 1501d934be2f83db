"""Win rate of closed deals (won / (won + lost)) by count and by value, as the opportunities list shows it."""

from decimal import Decimal

import pytest
from django.urls import reverse

from tandem.crm.selectors import OpportunityFilters, opportunity_win_rate
from tandem.crm.tests.factories import make_account, make_opportunity

pytestmark = pytest.mark.django_db


@pytest.fixture
def deals(cast):
    acme = make_account()
    globex = make_account(name="Globex", domain="globex.com")
    make_opportunity(acme, name="Won A", stage="closed_won", amount="3000", owner=cast.ae)
    make_opportunity(acme, name="Won B", stage="closed_won", amount="1000")
    make_opportunity(globex, name="Lost C", stage="closed_lost", amount="4000", owner=cast.ae)
    make_opportunity(globex, name="Open D", stage="proposal", amount="9000", owner=cast.ae)
    make_opportunity(globex, name="Won E", stage="closed_won", amount="500", currency="EUR")
    return {"acme": acme, "globex": globex}


def test_win_rate_counts_closed_deals_only_and_sums_values_per_currency(deals):
    result = opportunity_win_rate(filters=OpportunityFilters())

    assert (result.won_count, result.lost_count, result.closed_count) == (3, 1, 4)
    assert result.win_rate == Decimal("0.75")
    assert result.win_rate_percent == Decimal("75.00")
    assert [(value.currency, value.won_amount, value.lost_amount) for value in result.by_currency] == [
        ("EUR", Decimal("500"), Decimal("0")),
        ("USD", Decimal("4000"), Decimal("4000")),
    ]
    assert [value.win_rate_percent for value in result.by_currency] == [Decimal("100.00"), Decimal("50.00")]


def test_win_rate_follows_the_list_filters(deals, cast):
    by_owner = opportunity_win_rate(filters=OpportunityFilters(owner_id=cast.ae.pk))
    assert (by_owner.won_count, by_owner.lost_count, by_owner.win_rate_percent) == (1, 1, Decimal("50.00"))

    by_account = opportunity_win_rate(filters=OpportunityFilters(account_id=deals["globex"].pk))
    assert (by_account.won_count, by_account.lost_count) == (1, 1)

    only_open = opportunity_win_rate(filters=OpportunityFilters(is_open=True))
    assert (only_open.closed_count, only_open.win_rate, only_open.by_currency) == (0, None, [])


def test_win_rate_rounds_to_two_decimals_of_a_percent(cast):
    acme = make_account()
    for number in range(2):
        make_opportunity(acme, name=f"Won {number}", stage="closed_won", amount="1")
    make_opportunity(acme, name="Lost", stage="closed_lost", amount="1")

    assert opportunity_win_rate(filters=OpportunityFilters()).win_rate_percent == Decimal("66.67")


def test_the_opportunities_list_shows_the_panel_for_its_filters(client, cast, deals):
    client.force_login(cast.ae)

    page = client.get(reverse("crm:opportunity-list"), {"owner": "me"}).content.decode()

    assert '<div class="value" id="win-rate-count">50.00%</div>' in page
    assert "1 won of 2 closed" in page
    assert '<div class="value won-revenue">3,000</div><div class="label">Won revenue (USD)</div>' in page


def test_the_panel_says_when_no_deal_is_closed(client, cast):
    client.force_login(cast.ae)

    page = client.get(reverse("crm:opportunity-list")).content.decode()

    assert '<div class="value" id="win-rate-count">—</div>' in page
    assert "Won revenue: no closed deals match these filters" in page
