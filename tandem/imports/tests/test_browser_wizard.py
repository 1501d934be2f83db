"""The import wizard in a real Chromium, with the public Maven CRM and X Education data beside the project."""

from pathlib import Path

import pytest
from django.urls import reverse

from tandem.crm.models import Opportunity, Person
from tandem.crm.tests.test_browser import _click_and_wait, _console_errors, _sign_in
from tandem.imports.models import ImportRun, ImportStatus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[3]
DATASETS = ROOT.parent / "shared" / "datasets"
EXAMPLES = ROOT / "docs" / "examples"
# A whole file is imported while the Run request is answered (the worker runs in-process in tests).
IMPORT_SECONDS = 180

needs_datasets = pytest.mark.skipif(
    not DATASETS.is_dir(), reason=f"the public datasets are not beside this clone ({DATASETS} is absent)"
)


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path):
    """Uploads go to a temporary directory."""
    settings.DATA_DIR = tmp_path / "data"


def _wait_until(driver, condition, seconds: float):
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds, poll_frequency=0.25, ignored_exceptions=(WebDriverException,)).until(
        condition
    )


def _import_through_the_wizard(driver, live_server, *, kind: str, path: Path, mapping: Path) -> ImportRun:
    """Upload → map → preview → run → result, as a user clicks through it; returns the finished run."""
    from selenium.webdriver.support.ui import Select

    driver.get(live_server.url + reverse("imports:new"))
    Select(driver.find_element("id", "id_kind")).select_by_value(kind)
    driver.find_element("id", "id_file").send_keys(str(path))
    Select(driver.find_element("id", "id_mapping")).select_by_value("file")
    driver.find_element("id", "id_mapping_file").send_keys(str(mapping))
    _click_and_wait(driver, "id", "upload-submit")
    assert driver.find_element("css selector", "#wizard-steps .active").text == "2. Map columns"
    assert not driver.find_elements("id", "mapping-problem")

    _click_and_wait(driver, "id", "mapping-submit")
    assert driver.find_element("css selector", "#wizard-steps .active").text == "3. Preview"
    assert not driver.find_elements("id", "missing-keys")

    driver.execute_script("window.tandemPreviousPage = true")
    driver.find_element("id", "run-import").click()
    _wait_until(
        driver,
        lambda current: current.execute_script(
            "return window.tandemPreviousPage === undefined && document.readyState === 'complete'"
        ),
        IMPORT_SECONDS,
    )
    _wait_until(driver, lambda current: current.find_element("id", "run-status").get_attribute("data-status"), 30)
    status = driver.find_element("id", "run-status").get_attribute("data-status")
    assert status == ImportStatus.DONE, driver.find_element("id", "run-status").text
    return ImportRun.objects.get(original_filename=path.name)


def _tile(driver, name: str) -> str:
    return driver.find_element("id", f"count-{name}").text


@needs_datasets
def test_maven_crm_through_the_wizard_gives_the_published_win_rate_and_won_revenue(browser, live_server, cast):
    maven = DATASETS / "maven_crm_sales"
    _sign_in(browser, live_server, "rita@example.com")

    teams = _import_through_the_wizard(
        browser, live_server, kind="users", path=maven / "sales_teams.csv", mapping=EXAMPLES / "maven-sales-teams.json"
    )
    assert (teams.created_count, teams.rejected_count) == (35, 0)
    assert _tile(browser, "created") == "35"

    accounts = _import_through_the_wizard(
        browser, live_server, kind="accounts", path=maven / "accounts.csv", mapping=EXAMPLES / "maven-accounts.json"
    )
    assert (accounts.created_count, accounts.rejected_count) == (85, 0)

    deals = _import_through_the_wizard(
        browser,
        live_server,
        kind="opportunities",
        path=maven / "sales_pipeline.csv",
        mapping=EXAMPLES / "maven-pipeline.json",
    )
    assert (deals.rows_read, deals.created_count, deals.rejected_count) == (8800, 8800, 0)
    assert (_tile(browser, "created"), _tile(browser, "rejected")) == ("8,800", "0")
    assert browser.find_element("id", "run-rows").text == "8,800 rows done of 8,800 · 100% of the file"
    assert "opportunities_without_account: 1,425" in browser.find_element("id", "run-notes").text
    assert Opportunity.objects.count() == 8800

    browser.get(live_server.url + reverse("crm:opportunity-list"))
    assert browser.find_element("id", "win-rate-count").text == "63.15%"
    assert "4,238 won of 6,711 closed" in browser.find_element("id", "win-rate").text
    assert browser.find_element("css selector", "#win-rate .won-revenue").text == "10,005,534"

    browser.get(live_server.url + reverse("imports:list"))
    rows = [row.text for row in browser.find_elements("css selector", "#import-runs tbody tr")]
    assert [row.split(" ")[1] for row in rows] == ["sales_pipeline.csv", "accounts.csv", "sales_teams.csv"]
    assert all("Rita RevOps" in row and "Done" in row for row in rows)
    assert _console_errors(browser) == []


@needs_datasets
def test_x_education_leads_through_the_wizard_give_9240_people(browser, live_server, cast):
    leads = DATASETS / "x_education_leads" / "leads.csv"
    _sign_in(browser, live_server, "mona@example.com")

    run = _import_through_the_wizard(
        browser, live_server, kind="people", path=leads, mapping=EXAMPLES / "x-education-leads.json"
    )

    assert (run.rows_read, run.created_count, run.rejected_count) == (9240, 9240, 0)
    assert (_tile(browser, "created"), _tile(browser, "rejected")) == ("9,240", "0")
    assert Person.objects.count() == 9240
    assert Person.objects.filter(lifecycle_stage_id="customer").count() == 3561
    assert not browser.find_elements("id", "error-report")
    assert _console_errors(browser) == []
