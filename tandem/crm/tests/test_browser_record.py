"""A customer's record in a real Chromium: the predictive score with its factors beside the lifetime value."""

import pytest
from django.urls import reverse

from tandem.audit.actors import Actor
from tandem.clv import services as clv_services
from tandem.clv.models import CustomerValue
from tandem.clv.tests.factories import make_history as make_purchases
from tandem.crm.tests.test_browser import _console_errors, _sign_in, _wait_for_text
from tandem.predict import services as predict_services
from tandem.predict.models import PredictedScore
from tandem.predict.tests.factories import make_history as make_outcomes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_customers_record_shows_the_predictive_score_its_factors_and_the_lifetime_value(browser, live_server, cast):
    _accounts, buyers = make_purchases()
    make_outcomes(converted=40, disqualified=40)
    model = predict_services.predict_model_train(
        by=Actor.system("tests"), options=predict_services.TrainingOptions(folds=3, min_outcomes_per_class=20)
    )
    clv_services.clv_refit(by=cast.revops)
    buyer = buyers[0]
    prediction = PredictedScore.objects.get(person=buyer, model=model)
    value = CustomerValue.objects.get(person=buyer)

    _sign_in(browser, live_server, "erin@example.com")
    browser.get(live_server.url + reverse("crm:person-detail", args=[buyer.pk]))
    assert browser.find_element("id", "predictive-score-value").text == str(prediction.score)
    factors = browser.find_elements("css selector", "#factors-up li, #factors-down li")
    assert factors and all(item.text for item in factors)
    panel = _wait_for_text(browser, "#clv-panel", "Predicted (12 months)")
    assert "from 5 won deals" in panel
    assert f"{round(value.predicted_value):,}" in browser.find_element("id", "clv-predicted").text
    assert _console_errors(browser) == []
