"""The main journey in a real Chromium: a marketer hands a lead to sales, a rep sees why."""

import shutil

import pytest
from django.urls import reverse

from tandem.crm.models import Person, StageChange

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("Chromium and chromedriver are not installed (Debian packages chromium, chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,1000",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


def _console_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def _sign_in(driver, live_server, email):
    driver.get(live_server.url + reverse("login"))
    driver.find_element("id", "id_username").send_keys(email)
    driver.find_element("id", "id_password").send_keys("secret-pass-123")
    driver.find_element("id", "sign-in").click()
    assert driver.find_element("css selector", "h1").text.startswith("Good to see you")


def _sign_out(driver):
    driver.find_element("css selector", ".who button[type=submit]").click()
    assert driver.find_element("id", "sign-in")


def test_marketer_hands_a_lead_to_sales_and_the_rep_sees_why(browser, live_server, cast):
    from selenium.webdriver.support.ui import Select

    _sign_in(browser, live_server, "alice@example.com")

    browser.find_element("link text", "Accounts").click()
    browser.find_element("id", "new-account").click()
    browser.find_element("id", "id_name").send_keys("Umbrella Corp")
    browser.find_element("id", "id_domain").send_keys("umbrella.example")
    browser.find_element("css selector", "form.stacked button[type=submit]").click()
    assert browser.find_element("css selector", "h1").text == "Umbrella Corp"

    browser.find_element("link text", "People").click()
    browser.find_element("id", "new-person").click()
    browser.find_element("id", "id_email").send_keys("jill@umbrella.example")
    browser.find_element("id", "id_first_name").send_keys("Jill")
    browser.find_element("id", "id_last_name").send_keys("Valentine")
    browser.find_element("css selector", "form.stacked button[type=submit]").click()
    assert browser.find_element("css selector", "h1").text == "Jill Valentine"
    assert browser.find_element("id", "current-stage").text == "Lead"
    assert "Umbrella Corp" in browser.find_element("css selector", ".page-head .sub").text

    Select(browser.find_element("id", "id_to_stage")).select_by_visible_text("MQL")
    browser.find_element("id", "id_reason").send_keys("Requested a demo from the pricing page")
    browser.find_element("id", "move-stage").click()
    assert browser.find_element("id", "current-stage").text == "MQL"
    assert _console_errors(browser) == []
    _sign_out(browser)

    person = Person.objects.get(email="jill@umbrella.example")
    change = StageChange.objects.get(person=person, to_stage="mql")
    assert (change.from_stage_id, change.actor_user_id) == ("lead", cast.marketer.pk)

    _sign_in(browser, live_server, "sam@example.com")
    browser.find_element("link text", "People").click()
    browser.find_element("link text", "Jill Valentine").click()
    stage_items = browser.find_elements("css selector", "#timeline li.kind-stage")
    texts = [item.text for item in stage_items]
    mql_entry = next(text for text in texts if "Lead → MQL" in text)
    assert "Alice Marketer" in mql_entry
    assert "Requested a demo from the pricing page" in mql_entry
    assert _console_errors(browser) == []


def test_form_errors_show_next_to_the_field_in_the_browser(browser, live_server, cast):
    _sign_in(browser, live_server, "alice@example.com")
    browser.get(live_server.url + reverse("crm:person-create"))
    browser.find_element("id", "id_email").send_keys("not-an-email")
    browser.find_element("css selector", "form.stacked button[type=submit]").click()
    error = browser.find_element("id", "errors-email")
    assert "valid email" in error.text
    assert Person.objects.count() == 0
    assert _console_errors(browser) == []
