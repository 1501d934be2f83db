"""Export from a filtered list page in a real Chromium: the file holds what the page shows."""

import csv
import io

import pytest
from django.urls import reverse

from tandem.crm.tests.factories import make_person
from tandem.crm.tests.test_browser import _click_and_wait, _sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_rep_exports_the_filtered_people_list_as_csv(browser, live_server, cast):
    from selenium.webdriver.support.ui import Select

    mine = make_person(email="ann@acme.com", stage="mql", owner=cast.sdr, first_name="=Ann")
    make_person(email="bob@acme.com", stage="mql", owner=cast.ae)
    make_person(email="cid@acme.com", stage="lead", owner=cast.sdr)
    _sign_in(browser, live_server, "sam@example.com")

    browser.get(live_server.url + reverse("crm:person-list"))
    Select(browser.find_element("css selector", "select[name=stage]")).select_by_value("mql")
    Select(browser.find_element("css selector", "select[name=owner]")).select_by_value("me")
    _click_and_wait(browser, "css selector", "form.filters button[type=submit]")
    link = browser.find_element("id", "export-csv").get_attribute("href")
    # Fetched by the page itself, with the rep's session, as the download would be.
    text = browser.execute_async_script(
        "fetch(arguments[0]).then(response => response.text()).then(arguments[1])", link
    )

    assert link.endswith("/exports/people.csv?q=&stage=mql&lead_status=&owner=me&clv_min=&sort=last_activity")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert [row[:4] for row in rows[1:]] == [[str(mine.pk), "", "ann@acme.com", "'=Ann"]]
