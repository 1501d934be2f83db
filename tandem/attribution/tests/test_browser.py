"""In a real Chromium: switch models on the attribution page, watch credit move, open a journey."""

from importlib import import_module

import pytest
from django.urls import reverse

from tandem.attribution.tests.test_reports import company  # noqa: F401 - the scenario
from tandem.crm.tests.test_browser import WAIT_SECONDS, _click_and_wait, _console_errors, _sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _seeded_stages():
    """The stages and statuses a migration seeds; a browser test before this one may have flushed them."""
    from django.apps import apps

    import_module("tandem.crm.migrations.0003_seed_defaults").seed(apps, None)


def _credit(driver, campaign: str) -> str:
    return driver.find_element("css selector", f'#campaign-table tr[data-campaign="{campaign}"] .credit-value').text


def test_switching_models_moves_credit_between_campaigns_and_a_journey_opens(browser, live_server, cast, company):  # noqa: F811
    from selenium.webdriver.support.ui import Select, WebDriverWait

    _sign_in(browser, live_server, "alice@example.com")
    query = "?conversion=closed_won&model=first_touch&from=2026-03-01&to=2026-03-30"
    browser.get(live_server.url + reverse("attribution:page") + query)
    assert browser.find_element("css selector", "#model-weights h2").text == "First touch"
    assert (_credit(browser, "Ads"), _credit(browser, "Newsletter"), _credit(browser, "Webinar")) == (
        "10,000",
        "0",
        "0",
    )
    assert len(browser.find_elements("css selector", "#comparison-chart svg rect.selected")) == 3

    # Choosing another model swaps the report in place (htmx), without a page load.
    browser.execute_script("window.tandemSamePage = true")
    Select(browser.find_element("id", "model-select")).select_by_visible_text("Last touch")
    WebDriverWait(browser, WAIT_SECONDS).until(
        lambda driver: driver.find_element("id", "attribution-report").get_attribute("data-model") == "last_touch"
    )
    assert browser.execute_script("return window.tandemSamePage") is True
    assert (_credit(browser, "Ads"), _credit(browser, "Newsletter"), _credit(browser, "Webinar")) == (
        "0",
        "10,000",
        "0",
    )
    assert "model=last_touch" in browser.current_url

    Select(browser.find_element("id", "model-select")).select_by_visible_text("U-shaped")
    WebDriverWait(browser, WAIT_SECONDS).until(
        lambda driver: driver.find_element("id", "attribution-report").get_attribute("data-model") == "u_shaped"
    )
    assert (_credit(browser, "Ads"), _credit(browser, "Newsletter"), _credit(browser, "Webinar")) == (
        "4,000",
        "4,000",
        "2,000",
    )
    assert "40% first touch, 40% last touch" in browser.find_element("id", "model-weights").text

    # Drill down to the journeys through Ads, then open the winning account's journey.
    _click_and_wait(browser, "css selector", '#campaign-table tr[data-campaign="Ads"] a.journeys-link')
    assert browser.find_element("css selector", "h1").text == "Journeys through Ads"
    assert "Ads › Webinar › Newsletter" in browser.find_element("id", "journey-table").text
    _click_and_wait(browser, "css selector", "#journey-table a.journey-link")
    assert browser.find_element("css selector", "h1").text == "Journey of Acme"
    won = browser.find_elements("css selector", ".journey-conversion")[1]
    assert "Closed won: Acme deal" in won.text
    rows = won.find_elements("css selector", "tbody tr")
    assert [row.find_elements("css selector", "td")[3].text for row in rows] == ["Ads", "Webinar", "Newsletter"]
    assert _console_errors(browser) == []
