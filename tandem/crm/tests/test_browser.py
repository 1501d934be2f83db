"""The main journey in a real Chromium: a marketer hands a lead to sales, a rep sees why."""

import pytest
from django.urls import reverse

from tandem.crm.models import Person, StageChange

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WAIT_SECONDS = 10


def _console_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def _click_and_wait(driver, by: str, value: str) -> None:
    """Click a link or submit button and wait until the next page has loaded.

    Reading the page straight after a click could otherwise find the old page's elements. The old
    page is marked in JavaScript rather than watched for staleness, which Chromium sometimes reports
    as an inspector error instead.
    """
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    driver.execute_script("window.tandemPreviousPage = true")
    driver.find_element(by, value).click()
    WebDriverWait(driver, WAIT_SECONDS, ignored_exceptions=(WebDriverException,)).until(
        lambda current: current.execute_script(
            "return window.tandemPreviousPage === undefined && document.readyState === 'complete'"
        )
    )


def _wait_for_text(driver, css: str, text: str) -> str:
    """Wait until the element at `css` contains `text`; return its whole text."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.expected_conditions import text_to_be_present_in_element
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT_SECONDS).until(text_to_be_present_in_element((By.CSS_SELECTOR, css), text))
    return driver.find_element("css selector", css).text


def _sign_in(driver, live_server, email):
    driver.get(live_server.url + reverse("login"))
    driver.find_element("id", "id_username").send_keys(email)
    driver.find_element("id", "id_password").send_keys("secret-pass-123")
    _click_and_wait(driver, "id", "sign-in")
    assert _wait_for_text(driver, "h1", "Good to see you").startswith("Good to see you")


def _sign_out(driver):
    _click_and_wait(driver, "css selector", ".who button[type=submit]")
    assert driver.find_element("id", "sign-in")


def test_marketer_hands_a_lead_to_sales_and_the_rep_sees_why(browser, live_server, cast):
    from selenium.webdriver.support.ui import Select

    _sign_in(browser, live_server, "alice@example.com")

    _click_and_wait(browser, "link text", "Accounts")
    _click_and_wait(browser, "id", "new-account")
    browser.find_element("id", "id_name").send_keys("Umbrella Corp")
    browser.find_element("id", "id_domain").send_keys("umbrella.example")
    _click_and_wait(browser, "css selector", "form.stacked button[type=submit]")
    assert _wait_for_text(browser, "h1", "Umbrella Corp") == "Umbrella Corp"

    _click_and_wait(browser, "link text", "People")
    _click_and_wait(browser, "id", "new-person")
    browser.find_element("id", "id_email").send_keys("jill@umbrella.example")
    browser.find_element("id", "id_first_name").send_keys("Jill")
    browser.find_element("id", "id_last_name").send_keys("Valentine")
    _click_and_wait(browser, "css selector", "form.stacked button[type=submit]")
    assert _wait_for_text(browser, "h1", "Jill Valentine") == "Jill Valentine"
    assert _wait_for_text(browser, "#current-stage", "Lead") == "Lead"
    assert "Umbrella Corp" in browser.find_element("css selector", ".page-head .sub").text

    Select(browser.find_element("id", "id_to_stage")).select_by_visible_text("MQL")
    browser.find_element("id", "id_reason").send_keys("Requested a demo from the pricing page")
    _click_and_wait(browser, "id", "move-stage")
    assert _wait_for_text(browser, ".messages", "moved to MQL") == "Jill Valentine moved to MQL."
    assert _wait_for_text(browser, "#current-stage", "MQL") == "MQL"
    assert _console_errors(browser) == []
    _sign_out(browser)

    person = Person.objects.get(email="jill@umbrella.example")
    change = StageChange.objects.get(person=person, to_stage="mql")
    assert (change.from_stage_id, change.actor_user_id) == ("lead", cast.marketer.pk)

    _sign_in(browser, live_server, "sam@example.com")
    _click_and_wait(browser, "link text", "People")
    _click_and_wait(browser, "link text", "Jill Valentine")
    texts = [item.text for item in browser.find_elements("css selector", "#timeline li.kind-stage")]
    mql_entry = next(text for text in texts if "Lead → MQL" in text)
    assert "Alice Marketer" in mql_entry
    assert "Requested a demo from the pricing page" in mql_entry
    assert _console_errors(browser) == []


def test_form_errors_show_next_to_the_field_in_the_browser(browser, live_server, cast):
    _sign_in(browser, live_server, "alice@example.com")
    browser.get(live_server.url + reverse("crm:person-create"))
    browser.find_element("id", "id_email").send_keys("not-an-email")
    _click_and_wait(browser, "css selector", "form.stacked button[type=submit]")
    assert "valid email" in _wait_for_text(browser, "#errors-email", "valid email")
    assert Person.objects.count() == 0
    assert _console_errors(browser) == []
