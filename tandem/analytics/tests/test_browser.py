"""In a real Chromium: open the scorecard, see its charts drawn, filter it, and drill down to the records."""

from importlib import import_module

import pytest
from django.urls import reverse

from tandem.analytics.tests.fixtures import build_company, run_queued_snapshot_fills
from tandem.crm.tests.test_browser import WAIT_SECONDS, _click_and_wait, _console_errors, _sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _seeded_stages():
    """The stages and statuses a migration seeds; a browser test before this one may have flushed them."""
    from django.apps import apps

    import_module("tandem.crm.migrations.0003_seed_defaults").seed(apps, None)


def _tile_value(driver, key: str) -> str | None:
    """A tile's value as shown, read in one step in the page: htmx may swap the tile between two WebDriver calls."""
    return driver.execute_script(
        "const value = document.querySelector(arguments[0]); return value ? value.innerText.trim() : null;",
        f"#kpi-{key} .value",
    )


def test_the_scorecard_draws_filters_and_drills_down(browser, live_server, cast):
    from selenium.webdriver.support.ui import Select, WebDriverWait

    build_company(cast)
    _sign_in(browser, live_server, "alice@example.com")
    _click_and_wait(browser, "id", "nav-scorecard")
    assert browser.find_element("css selector", "h1").text == "Scorecard"
    browser.get(live_server.url + reverse("analytics:scorecard") + "?period=2026-Q1")
    assert (_tile_value(browser, "mqls"), _tile_value(browser, "win_rate"), _tile_value(browser, "won_revenue")) == (
        "5",
        "66.7%",
        "4,000 USD",
    )
    # A fresh install: the past quarters are computed on the worker, and the page says so until they are
    # kept; then it swaps in their changes and sparklines by itself.
    pending = browser.execute_script("return document.getElementById('history-pending').innerText")
    assert "being computed" in pending
    run_queued_snapshot_fills()
    WebDriverWait(browser, WAIT_SECONDS).until(lambda driver: not driver.find_elements("id", "history-pending"))
    # The sparklines are drawn: lines across the quarters with a real width on screen, and a dot for
    # this quarter on every tile that has a value.
    drawn = browser.execute_script(
        "return Array.from(document.querySelectorAll('.kpi svg.sparkline')).map(svg => ["
        "svg.closest('.kpi').id,"
        " Math.max(0, ...Array.from(svg.querySelectorAll('polyline')).map(line => line.getBBox().width)),"
        "svg.querySelectorAll('circle').length])"
    )
    by_tile = {tile: (width, dots) for tile, width, dots in drawn}
    assert len(by_tile) == 10
    assert by_tile["kpi-mqls"][0] > 100  # Q4 2025 and Q1 2026 joined across the tile
    assert by_tile["kpi-won_revenue"][0] > 100
    assert all(dots == 1 for tile, (_, dots) in by_tile.items())
    glossary = browser.find_element("css selector", "#kpi-win_rate .glossary-link").get_attribute("href")
    assert glossary.endswith("/contract/#term-win-rate")

    # Choosing an owner swaps the tiles in place (htmx) with that owner's numbers.
    browser.execute_script("window.tandemSamePage = true")
    Select(browser.find_element("id", "filter-owner")).select_by_visible_text("Erin AE")
    WebDriverWait(browser, WAIT_SECONDS).until(lambda driver: _tile_value(driver, "mqls") == "2")
    assert browser.execute_script("return window.tandemSamePage") is True
    assert f"owner={cast.ae.pk}" in browser.current_url
    assert _tile_value(browser, "conversion") == "100.0%"

    # The number opens the list of the people behind it.
    _click_and_wait(browser, "css selector", "#kpi-mqls .value a")
    assert "/people/" in browser.current_url
    rows = browser.find_elements("css selector", "table.list tbody tr td:first-child a")
    assert sorted(row.text for row in rows) == ["p1@alpha.example", "p2@alpha.example"]
    assert "entered mql from 2026-01-01" in browser.find_element("id", "drill-down").text
    assert _console_errors(browser) == []
