"""The hand-off's journey in a real Chromium: a lead crosses the MQL threshold, is routed to the territory's
rep, the countdown runs, the SLA is breached (rep and manager told) and escalated, the rep rejects with a
reason, and marketing's report shows that reason against the campaign."""

import datetime as dt

import pytest
from django.utils import timezone

from tandem.campaigns.models import Campaign
from tandem.crm.tests.factories import make_account, make_person
from tandem.crm.tests.test_browser import _click_and_wait, _console_errors, _sign_in, _sign_out, _wait_for_text
from tandem.engagement.models import Touchpoint
from tandem.handoff.models import Handoff, Notification
from tandem.handoff.tests.factories import use_routing
from tandem.scoring.services import score_refresh_queue
from tandem.scoring.tests.factories import set_scores
from tandem.sla.models import SlaBreach
from tandem.sla.services import sla_sweep

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def pat(cast):
    """A VP at a European software company who came from the autumn webinar: fit 90, engagement 30 so far."""
    use_routing(
        {
            "rules": [
                {
                    "name": "EMEA",
                    "when": 'account.region == "EMEA"',
                    "team": "Sales",
                    "reps": [{"email": "erin@example.com"}],
                },
                {"name": "Everyone else", "team": "Sales", "reps": [{"email": "sam@example.com"}]},
            ]
        }
    )
    now = timezone.now()
    Campaign.objects.create(
        name="Autumn webinar", channel="events", utm_campaign="autumn-webinar", created_at=now, updated_at=now
    )
    account = make_account(name="Initech", domain="initech.example", region="EMEA", industry="Software")
    person = make_person(
        email="pat@initech.example",
        first_name="Pat",
        last_name="Prospect",
        account=account,
        utm_campaign="autumn-webinar",
        source="webinar",
    )
    set_scores(person, fit=90)
    Touchpoint.objects.create(person=person, type="form_submit", occurred_at=now - dt.timedelta(minutes=1))
    return person


def test_an_mql_is_routed_to_the_territory_rep_who_rejects_it_and_marketing_sees_why(browser, live_server, cast, pat):
    # The webinar visit lifts engagement to 45: the refresh on the worker (in-process here) makes Pat MQL,
    # and the MQL is routed to Erin, who covers EMEA.
    Touchpoint.objects.create(person=pat, type="webinar", occurred_at=timezone.now())
    score_refresh_queue(person_ids=[pat.pk])
    pat.refresh_from_db()
    assert (pat.engagement_score, pat.lifecycle_stage_id, pat.owner) == (45, "mql", cast.ae)
    handoff = Handoff.objects.get(person=pat)
    # The clock started with the routing, in the Sales team's business hours (New York, 09:00-17:00).
    assert (handoff.sla_status, handoff.sla_policy) == ("pending", "standard")

    _sign_in(browser, live_server, "erin@example.com")
    _click_and_wait(browser, "link text", "Hand-offs")
    mine = _wait_for_text(browser, "#my-handoffs", "Pat Prospect")
    assert "Initech" in mine and "Pending" in mine
    countdown = browser.find_element("id", f"sla-countdown-{handoff.pk}")
    assert "sla-pending" in countdown.get_attribute("class")
    assert countdown.text.startswith("Due in ") or countdown.text == "Due now"

    # Time passes beyond the due time: the worker's sweep records the breach and tells Erin and her
    # manager; two business hours later it escalates to the manager.
    sla_sweep(now=handoff.due_at + dt.timedelta(minutes=1))
    breach = SlaBreach.objects.get(handoff=handoff)
    sla_sweep(now=breach.escalate_at)
    assert sorted(Notification.objects.values_list("user__email", "kind")) == [
        ("erin@example.com", "sla_breach"),
        ("stan@example.com", "sla_breach"),
        ("stan@example.com", "sla_escalation"),
    ]
    browser.refresh()
    countdown = _wait_for_text(browser, f"#sla-countdown-{handoff.pk}", "Breached")
    assert countdown.startswith("Breached · overdue by")
    notices = _wait_for_text(browser, "#notifications", "SLA breached")
    assert "SLA breached: Pat Prospect was handed to Erin AE" in notices
    _click_and_wait(browser, "link text", "Pat Prospect")
    panel = _wait_for_text(browser, "#handoff-panel", "Erin AE")
    assert 'rule \'EMEA\' (account.region "EMEA" = "EMEA")' in panel
    assert "Breached" in panel

    # Rejecting without a reason is refused, and says which field is missing.
    _click_and_wait(browser, "id", f"reject-{handoff.pk}")
    assert "reason: A reason is required" in _wait_for_text(browser, ".messages", "reason")
    assert Handoff.objects.get(pk=handoff.pk).status == "pending"

    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("id", f"reject-reason-{handoff.pk}")).select_by_value("bad_timing")
    browser.find_element("id", f"reject-note-{handoff.pk}").send_keys("Budget opens in Q3")
    _click_and_wait(browser, "id", f"reject-{handoff.pk}")
    assert _wait_for_text(browser, "#current-stage", "Recycled") == "Recycled"
    assert "bad_timing → Recycled: Budget opens in Q3" in browser.find_element("id", "handoff-rejection").text
    assert _console_errors(browser) == []
    _sign_out(browser)

    _sign_in(browser, live_server, "stan@example.com")
    _click_and_wait(browser, "link text", "Hand-offs")
    _click_and_wait(browser, "link text", "Notifications")
    notices = _wait_for_text(browser, "#notification-list", "SLA escalation")
    assert "SLA escalation: Pat Prospect still has no first response from Erin AE" in notices
    assert "SLA breached: Pat Prospect was handed to Erin AE" in notices
    _sign_out(browser)

    _sign_in(browser, live_server, "alice@example.com")
    _click_and_wait(browser, "link text", "Hand-offs")
    _click_and_wait(browser, "link text", "Reports & goals")
    report = _wait_for_text(browser, "#acceptance", "Autumn webinar")
    row = next(line for line in report.splitlines() if line.startswith("Autumn webinar"))
    assert row == "Autumn webinar 0 1 0% 0 Bad timing: 1"
    assert _console_errors(browser) == []
