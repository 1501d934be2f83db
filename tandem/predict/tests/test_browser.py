"""In a real Chromium: a rep opens a person's record and sees the predictive score with its factors."""

import datetime as dt
import os

import pytest
import time_machine
from django.urls import reverse

from tandem.audit.actors import Actor
from tandem.crm.tests.test_browser import _click_and_wait, _console_errors, _sign_in
from tandem.predict import services
from tandem.predict.tests.factories import START, make_history

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_rep_sees_the_predictive_score_and_its_factors(browser, live_server, cast):
    people = make_history(converted=40, disqualified=40, open_people=1)
    with time_machine.travel(START + dt.timedelta(days=30), tick=False):
        model = services.predict_model_train(
            by=Actor.system("tests"), options=services.TrainingOptions(folds=3, min_outcomes_per_class=20)
        )
    person = people[-1]
    prediction = person.predicted_score
    _sign_in(browser, live_server, "erin@example.com")

    browser.get(live_server.url + reverse("crm:person-detail", args=[person.pk]))
    panel = browser.find_element("id", "predictive-score")
    assert browser.find_element("id", "predictive-score-value").text == str(prediction.score)
    assert f"Calibrated chance of converting: {round(prediction.probability * 100, 1)}%" in panel.text
    assert f"model v{model.number}, trained {START + dt.timedelta(days=30):%Y-%m-%d}" in panel.text
    factors = [
        item.text
        for item in browser.find_elements("css selector", "#factors-up li, #factors-down li")
        if not item.get_attribute("class")
    ]
    expected_budget = f"Budget = {person.custom_fields['budget']}"
    assert any(text.startswith(expected_budget) for text in factors), factors
    assert len(factors) == len(prediction.factors_up) + len(prediction.factors_down)
    if os.environ.get("TANDEM_SCREENSHOTS"):
        panel.screenshot(os.environ["TANDEM_SCREENSHOTS"] + "/person.png")

    _click_and_wait(browser, "css selector", "#predictive-score a.btn")
    assert browser.find_element("id", "card-auc").text == f"{model.cv_auc:.3f}"
    assert browser.find_element("id", "calibration-chart").is_displayed()
    assert browser.find_element("id", "gain-chart").is_displayed()
    if os.environ.get("TANDEM_SCREENSHOTS"):
        browser.save_screenshot(os.environ["TANDEM_SCREENSHOTS"] + "/card.png")
    assert _console_errors(browser) == []
