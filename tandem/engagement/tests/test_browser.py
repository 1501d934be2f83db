"""The website snippet in a real Chromium: a visit and a form become the person's touchpoints."""

import pytest
from django.urls import reverse

from tandem.campaigns.models import Campaign
from tandem.crm.models import Person
from tandem.crm.tests.test_browser import WAIT_SECONDS, _console_errors, _sign_in, _wait_for_text
from tandem.engagement.models import Touchpoint, Visitor
from tandem.integrations.services import token_create

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("tandem.engagement.tests.site_urls"),
]


def _wait_until(driver, condition):
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT_SECONDS).until(lambda _driver: condition())


def test_a_visit_and_a_form_show_on_the_persons_timeline_with_channel_and_campaign(browser, live_server, cast):
    from django.utils import timezone

    now = timezone.now()
    campaign = Campaign.objects.create(
        name="Spring launch", channel="email", utm_campaign="spring-launch", created_at=now, updated_at=now
    )
    key = token_create(
        by=cast.revops, user=cast.revops, name="Website", is_write_key=True, allowed_origins=[live_server.url]
    ).secret
    cast.marketer.set_password("secret-pass-123")
    cast.marketer.save()

    browser.get(
        f"{live_server.url}/site/landing/?key={key}&utm_source=newsletter&utm_medium=email&utm_campaign=spring-launch"
    )
    _wait_until(browser, lambda: Touchpoint.objects.filter(type="page_view").exists())
    visit = Touchpoint.objects.get(type="page_view")
    assert visit.person_id is None
    assert (visit.channel, visit.campaign_id, visit.utm_medium) == ("email", campaign.pk, "email")
    cookie = browser.get_cookie("tandem_aid")["value"]
    assert visit.anonymous_id == cookie

    browser.find_element("id", "work-email").send_keys("dana@beta.io")
    browser.find_element("id", "send").click()
    _wait_until(browser, lambda: Touchpoint.objects.filter(type="form_submit").exists())
    person = Person.objects.get(email="dana@beta.io")
    assert Visitor.objects.get(anonymous_id=cookie).person == person
    assert sorted(person.touchpoints.values_list("type", "channel", "campaign__name")) == [
        ("form_submit", "email", "Spring launch"),
        ("page_view", "email", "Spring launch"),
    ]
    assert _console_errors(browser) == []

    _sign_in(browser, live_server, cast.marketer.email)
    browser.get(live_server.url + reverse("crm:person-detail", args=[person.pk]) + "?timeline=touchpoint")
    timeline = _wait_for_text(browser, ".timeline", "Form submit")
    assert "Page view" in timeline
    assert timeline.count("Campaign: Spring launch") == 2
    assert timeline.count("Email") >= 2


def test_do_not_track_sends_nothing(browser, live_server, cast):
    key = token_create(
        by=cast.revops, user=cast.revops, name="Website", is_write_key=True, allowed_origins=[live_server.url]
    ).secret
    browser.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument",
        {"source": "Object.defineProperty(navigator, 'doNotTrack', {get: () => '1'});"},
    )
    browser.get(f"{live_server.url}/site/landing/?key={key}")
    browser.find_element("id", "work-email").send_keys("dana@beta.io")
    browser.find_element("id", "send").click()
    _wait_for_text(browser, "h1", "Thanks")
    # The tracker ran (it marks itself loaded) but stored and sent nothing.
    assert browser.get_cookie("tandem_aid") is None
    assert Touchpoint.objects.count() == 0
    assert Person.objects.filter(email="dana@beta.io").count() == 0
