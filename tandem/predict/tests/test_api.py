"""The predictive score over HTTP: card, versions, a person's score, training, rollback and settings by role."""

import datetime as dt

import pytest
import time_machine

from tandem.audit.actors import Actor
from tandem.audit.models import AuditEntry
from tandem.integrations.tests.api_client import ApiClient, make_token
from tandem.predict import services
from tandem.predict.models import PredictiveModel, PredictSettings
from tandem.predict.tests.factories import START, make_history

pytestmark = pytest.mark.django_db
LATER = START + dt.timedelta(days=30)
SMALL = services.TrainingOptions(folds=3, min_outcomes_per_class=20)


@pytest.fixture
def trained():
    people = make_history(converted=40, disqualified=40, open_people=1)
    with time_machine.travel(LATER, tick=False):
        services.predict_model_train(by=Actor.system("tests"), options=SMALL)
    return people


def test_card_and_person_score(client, cast, trained):
    api = ApiClient(client, make_token(cast.sdr))
    card = api.get("/predict/card").json()
    assert (card["number"], card["kind"], card["is_active"], card["positives"], card["negatives"]) == (
        1, "model", True, 40, 40,
    )  # fmt: skip
    assert card["card"]["features_used"][0]["name"] == "custom.budget"
    assert len(card["card"]["gain_curve"]) == 10
    person = trained[-1]
    score = api.get(f"/people/{person.pk}/predictive-score").json()
    assert (score["person_id"], score["model"], score["rule_score_in_use"], score["reason"]) == (
        person.pk,
        1,
        False,
        "",
    )
    assert 0 <= score["score"] <= 100
    assert "custom.budget" in [factor["feature"] for factor in score["factors_up"] + score["factors_down"]]
    assert [model["number"] for model in api.get("/predict/models").json()] == [1]
    assert api.get("/people/999999/predictive-score").status_code == 404


def test_without_a_model_the_rule_score_is_in_use(client, cast):
    from tandem.crm.tests.factories import make_person

    person = make_person()
    api = ApiClient(client, make_token(cast.sdr))
    response = api.get("/predict/card")
    assert (response.status_code, response.json()) == (
        404, {"detail": "No predictive model has been trained yet; the rule scores are in use"},
    )  # fmt: skip
    score = api.get(f"/people/{person.pk}/predictive-score").json()
    assert (score["score"], score["rule_score_in_use"], score["reason"]) == (
        None, True, "No predictive model has been trained yet.",
    )  # fmt: skip


def test_only_revops_trains_rolls_back_and_changes_settings(client, cast, trained, django_capture_on_commit_callbacks):
    for user in (cast.sdr, cast.marketing_manager, cast.leadership):
        api = ApiClient(client, make_token(user, name=f"t-{user.pk}"))
        assert api.post("/predict/train").status_code == 403
        assert api.post("/predict/models/1/activate").status_code == 403
        response = api.patch("/predict/settings", {"cv_folds": 3})
        assert (response.status_code, response.json()["detail"]) == (
            403, "Only RevOps / admin trains, rolls back or configures the predictive score.",
        )  # fmt: skip
    assert PredictiveModel.objects.count() == 1
    assert not PredictSettings.objects.exclude(cv_folds=5).exists()

    revops = ApiClient(client, make_token(cast.revops, name="revops"))
    with time_machine.travel(LATER, tick=False):
        response = revops.post("/predict/train")
    assert (response.status_code, response.json()) == (202, {"detail": "Training queued."})
    second = PredictiveModel.objects.get(number=2)
    assert (second.is_active, second.trained_by_id) == (True, cast.revops.pk)
    with django_capture_on_commit_callbacks(execute=True):
        response = revops.post("/predict/models/1/activate")
    assert (response.status_code, response.json()["number"], response.json()["is_active"]) == (200, 1, True)
    response = revops.post("/predict/models/1/activate")
    assert (response.status_code, response.json()["detail"]) == (
        422, [{"field": "model", "message": "v1 is already the active model."}],
    )  # fmt: skip
    assert revops.post("/predict/models/9/activate").status_code == 404


def test_settings_are_validated_naming_the_field(client, cast):
    revops = ApiClient(client, make_token(cast.revops))
    response = revops.patch("/predict/settings", {"negative_stages": ["won"]})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "negative_stages"
    response = revops.patch("/predict/settings", {"min_outcomes_per_class": 5})
    assert response.json()["detail"] == [
        {"field": "min_outcomes_per_class", "message": "Expected a whole number of at least 20."}
    ]
    response = revops.patch("/predict/settings", {"shoe_size": 5})
    assert (response.status_code, response.json()["detail"][0]["field"]) == (422, "shoe_size")
    assert AuditEntry.objects.filter(entity_type="predict.predictsettings").count() == 0
    response = revops.patch("/predict/settings", {"excluded_fields": ["custom.tags"], "cv_folds": 4})
    assert response.status_code == 200
    assert (response.json()["excluded_fields"], response.json()["cv_folds"]) == (["custom.tags"], 4)
    assert AuditEntry.objects.filter(entity_type="predict.predictsettings").count() == 1
