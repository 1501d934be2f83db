"""The model card page and the person page's predictive panel."""

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from tandem.audit.actors import Actor
from tandem.predict import services
from tandem.predict.models import PredictiveModel
from tandem.predict.tests.factories import START, make_history

pytestmark = pytest.mark.django_db
LATER = START + dt.timedelta(days=30)


def _train(**options):
    with time_machine.travel(LATER, tick=False):
        return services.predict_model_train(
            by=Actor.system("tests"), options=services.TrainingOptions(folds=3, min_outcomes_per_class=20, **options)
        )


def test_card_shows_auc_charts_features_and_versions(client, cast):
    make_history(converted=40, disqualified=40)
    model = _train(excluded_fields=["source"])
    client.force_login(cast.sdr)
    page = client.get(reverse("predict:card")).content.decode()
    assert f'id="card-auc">{model.cv_auc:.3f}<' in page
    assert 'id="card-size">80<' in page
    assert 'id="calibration-chart"' in page and 'id="gain-chart"' in page and "<polyline" in page
    assert "<td>source</td><td>on the exclusion list (source)</td>" in page
    assert '<td title="custom.budget">Budget</td>' in page
    assert "records the outcome itself" in page
    # Readers see no training, rollback or settings controls.
    assert 'id="train-now"' not in page and 'id="settings-form"' not in page


def test_fallback_card_and_panel_say_why(client, cast):
    people = make_history(converted=3, disqualified=3)
    with time_machine.travel(LATER, tick=False):
        services.predict_model_train(by=Actor.system("tests"))
    client.force_login(cast.revops)
    page = client.get(reverse("predict:card")).content.decode()
    assert "Rule score in use." in page and "3 converted and 3 not converted; at least 200 of each" in page
    assert 'id="train-now"' in page and 'id="settings-form"' in page
    record = client.get(reverse("crm:person-detail", args=[people[0].pk])).content.decode()
    assert "Rule scores in use: fit 0, engagement 0." in record


def test_person_panel_shows_score_and_factors(client, cast):
    people = make_history(converted=40, disqualified=40, open_people=1)
    _train()
    client.force_login(cast.ae)
    person = people[-1]
    prediction = person.predicted_score
    page = client.get(reverse("crm:person-detail", args=[person.pk])).content.decode()
    assert f'<span id="predictive-score-value">{prediction.score}</span>' in page
    assert "Budget = <strong>" in page
    assert 'href="/predict/"' in page


def test_rollback_from_the_card_is_for_revops_only(client, cast, django_capture_on_commit_callbacks):
    make_history(converted=40, disqualified=40)
    _train()
    _train(excluded_fields=["custom.visits"])
    client.force_login(cast.sales_manager)
    assert client.post(reverse("predict:activate", args=[1])).status_code == 403
    assert PredictiveModel.objects.get(is_active=True).number == 2
    client.force_login(cast.revops)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("predict:activate", args=[1]))
    assert response.status_code == 302
    assert PredictiveModel.objects.get(is_active=True).number == 1


def test_settings_form_refuses_unknown_stages(client, cast):
    client.force_login(cast.revops)
    data = {
        "excluded_fields": "custom.tags\ncustom.asymmetrique_*",
        "positive_stages": "customer",
        "negative_stages": "lost",
        "min_outcomes_per_class": "200",
        "cv_folds": "5",
    }
    response = client.post(reverse("predict:settings"), data)
    assert response.status_code == 400
    assert "Unknown lifecycle stage: lost" in response.content.decode()
    data["negative_stages"] = "disqualified, lead"
    assert client.post(reverse("predict:settings"), data).status_code == 302
    from tandem.predict.selectors import settings_get

    saved = settings_get()
    assert (saved.excluded_fields, saved.negative_stages) == (
        ["custom.tags", "custom.asymmetrique_*"],
        ["disqualified", "lead"],
    )
