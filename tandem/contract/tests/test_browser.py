"""The contract's main journey in a real Chromium: a proposal, its backtest, the approval, and its effect."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from tandem.contract import services
from tandem.contract.execution import contract_execute
from tandem.contract.models import VersionStatus
from tandem.crm.models import Person, StageChange
from tandem.crm.tests.factories import make_account, make_person
from tandem.crm.tests.test_browser import _click_and_wait, _console_errors, _sign_in, _sign_out, _wait_for_text
from tandem.engagement.models import Touchpoint

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# v2 raises the MQL engagement bar from 40 to 50 and makes a webinar worth 40 points instead of 15.
CHANGES = (
    ("engagement_score_at_least: 40", "engagement_score_at_least: 50"),
    (
        "{name: Webinar, touchpoint: webinar, points: 15, cap: 30}",
        "{name: Webinar, touchpoint: webinar, points: 40, cap: 40}",
    ),
)


@pytest.fixture
def pat(cast):
    """A VP at a target account: fit 90; two pricing views (10 + 2 points each) and a webinar make 39 under v1."""
    account = make_account(name="Initech", industry="Software", employee_count=500, region="North America")
    person = make_person(email="pat@initech.example", first_name="Pat", last_name="Pricing", account=account)
    Person.objects.filter(pk=person.pk).update(title="VP Marketing")
    recently = timezone.now() - dt.timedelta(minutes=5)
    for url in ("https://initech.example/pricing", "https://initech.example/pricing?plan=team"):
        Touchpoint.objects.create(person=person, type="page_view", url=url, occurred_at=recently)
    Touchpoint.objects.create(person=person, type="webinar", occurred_at=recently)
    contract_execute(version=services.contract_get().active_version)
    person.refresh_from_db()
    assert (person.fit_score, person.engagement_score, person.lifecycle_stage_id) == (90, 39, "lead")
    return person


def test_a_marketing_lead_raises_the_bar_sales_approves_and_the_record_shows_why(browser, live_server, cast, pat):
    _sign_in(browser, live_server, "mona@example.com")
    browser.get(live_server.url + reverse("contract:detail"))
    _click_and_wait(browser, "xpath", "//button[normalize-space()='Propose a change']")
    assert _wait_for_text(browser, "h1", "Contract v2").startswith("Contract v2")
    source = browser.find_element("id", "id_source").get_attribute("value")
    for before, after in CHANGES:
        assert before in source
        source = source.replace(before, after)
    browser.execute_script("document.getElementById('id_source').value = arguments[0]", source)
    browser.find_element("id", "id_summary").send_keys("Raise the MQL engagement bar to 50; webinars count more")
    _click_and_wait(browser, "xpath", "//button[@value='propose']")

    assert "Proposed" in _wait_for_text(browser, "h1", "Proposed")
    decisions = browser.find_element("id", "decisions").text
    assert "Marketing: Approved by Mona Manager" in decisions
    assert "You proposed this version" in decisions
    changes = browser.find_element("id", "diff").text
    assert "mql.engagement_score_at_least 40 50" in changes
    backtest = _wait_for_text(browser, "#backtest table", "Would have become MQL")
    assert "Would have become MQL 0 1" in backtest
    assert browser.find_elements("css selector", "#backtest svg rect.bar-proposed")
    assert _console_errors(browser) == []
    _sign_out(browser)

    _sign_in(browser, live_server, "stan@example.com")
    browser.get(live_server.url + reverse("contract:version-detail", args=[2]))
    browser.find_element("css selector", "#decisions input[name=note]").send_keys("Sales agrees")
    _click_and_wait(browser, "xpath", "//button[@value='approve']")
    assert "Published" in _wait_for_text(browser, "h1", "Published")
    browser.get(live_server.url + reverse("contract:detail"))
    assert _wait_for_text(browser, "h1", "v2 in force").endswith("v2 in force")
    assert services.contract_get().active_version.status == VersionStatus.PUBLISHED

    # Publishing rescored everyone on the worker (in-process here) and moved Pat to MQL under v2.
    browser.get(live_server.url + reverse("crm:person-detail", args=[pat.pk]))
    assert _wait_for_text(browser, "#current-stage", "MQL") == "MQL"
    details = browser.find_element("css selector", "dl.fields").text
    assert "Fit score\n90" in details and "Engagement\n64" in details
    ledger = browser.find_element("id", "score-ledger").text
    assert "Webinar" in ledger and "40" in ledger
    assert "Pricing page" in ledger
    assert browser.find_element("id", "score-ledger-total").text.endswith("→ 64")
    evidence = "MQL because fit 90 >= 60 and engagement 64 >= 50, contract v2"
    stage_entries = [item.text for item in browser.find_elements("css selector", "#timeline li.kind-stage")]
    assert any(evidence in text for text in stage_entries), stage_entries
    assert _console_errors(browser) == []

    change = StageChange.objects.get(person=pat, to_stage="mql")
    assert (change.reason, change.contract_version, change.actor_type) == (evidence, 2, "rule")
