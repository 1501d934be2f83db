"""A manager refits lifetime value in Chromium, then a marketer sees it on a person's record."""

import pytest
from django.urls import reverse

from tandem.clv.models import CustomerValue
from tandem.clv.tests.factories import make_history
from tandem.crm.tests.test_browser import _click_and_wait, _console_errors, _sign_in, _sign_out, _wait_for_text

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_manager_refits_and_the_person_record_shows_the_lifetime_value(browser, live_server, cast):
    from selenium.webdriver.support.ui import Select

    _, people = make_history()
    _sign_in(browser, live_server, "stan@example.com")
    _click_and_wait(browser, "link text", "Lifetime value")
    assert "No fit yet." in browser.find_element("id", "clv-fit").text
    Select(browser.find_element("id", "id_unit")).select_by_value("weeks")
    horizon = browser.find_element("id", "id_horizon_months")
    horizon.clear()
    horizon.send_keys("12")
    _click_and_wait(browser, "css selector", "#clv-refit-form button[type=submit]")
    assert "v1" in _wait_for_text(browser, "#clv-fit", "v1, ")
    assert len(browser.find_elements("css selector", "#clv-distribution-person svg rect")) == 20
    _sign_out(browser)

    _sign_in(browser, live_server, "alice@example.com")
    browser.get(live_server.url + reverse("crm:person-detail", args=[people[0].pk]))
    value = CustomerValue.objects.get(person=people[0])
    panel = _wait_for_text(browser, "#clv-panel", "Predicted (12 months)")
    assert "5,700 from 5 won deals" in panel
    assert f"{round(value.predicted_value):,}" in browser.find_element("id", "clv-predicted").text
    assert _console_errors(browser) == []
