"""`tandem predict train|score|card|rollback` and the weekly retraining and daily rescoring tasks."""

import datetime as dt
import json

import pytest
import time_machine
from django.core.management import CommandError, call_command

from tandem.predict.models import PredictedScore, PredictiveModel
from tandem.predict.tasks import predict_rescore_daily, predict_retrain_weekly
from tandem.predict.tests.factories import START, make_history

pytestmark = pytest.mark.django_db
LATER = START + dt.timedelta(days=30)


def _json(capsys, *args):
    call_command("predict", *args, "--format", "json")
    return json.loads(capsys.readouterr().out)


def test_train_prints_the_card_and_score_prints_a_persons_factors(capsys):
    people = make_history(converted=40, disqualified=40)
    with time_machine.travel(LATER, tick=False):
        card = _json(capsys, "train", "--cv", "4", "--min-outcomes", "20", "--exclude", "source")
    assert (card["version"], card["kind"], card["cv_folds"], card["training_size"]) == (1, "model", 4, 80)
    assert 0.5 < card["cv_auc"] <= 1 and len(card["fold_aucs"]) == 4
    assert {"name": "source", "reason": "on the exclusion list (source)"} in card["features_excluded"]
    assert card["trained_by"] == "System: tandem predict train"
    assert _json(capsys, "card") == card
    person = _json(capsys, "score", "--person", str(people[1].pk))
    assert person["model"] == 1 and 0 <= person["score"] <= 100
    assert person["factors_up"][0]["feature"] == "custom.budget"
    assert _json(capsys, "score") == {"model": 1, "kind": "model", "people_scored": 80}


def test_train_refuses_unknown_stages_and_rollback_unknown_versions():
    with pytest.raises(CommandError, match="--negative-stages: Unknown lifecycle stage: won"):
        call_command("predict", "train", "--negative-stages", "won")
    with pytest.raises(CommandError, match="--to: there is no model v7"):
        call_command("predict", "rollback", "--to", "7")
    with pytest.raises(CommandError, match="No model has been trained yet"):
        call_command("predict", "card")
    assert PredictiveModel.objects.count() == 0


def test_weekly_retraining_records_a_fallback_when_outcomes_are_few():
    make_history(converted=5, disqualified=5)
    with time_machine.travel(LATER, tick=False):
        number = predict_retrain_weekly.call_local()
    model = PredictiveModel.objects.get(number=number)
    assert (model.kind, model.trained_by_label, model.positives, model.negatives) == (
        "rule_fallback", "System: weekly retraining", 5, 5,
    )  # fmt: skip


def test_daily_rescoring_scores_people_added_since_training():
    from tandem.crm.tests.factories import make_person

    make_history(converted=40, disqualified=40)
    with time_machine.travel(LATER, tick=False):
        call_command("predict", "train", "--cv", "3", "--min-outcomes", "20")
        newcomer = make_person(email="new@example.org", custom_fields={"budget": "high"})
    assert not PredictedScore.objects.filter(person=newcomer).exists()
    assert predict_rescore_daily.call_local() == 81
    assert PredictedScore.objects.get(person=newcomer).model.number == 1
