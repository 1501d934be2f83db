"""Training, the rule-score fallback, the timing check, scoring, rollback and settings, on a real database."""

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import ValidationError

from tandem.audit.actors import Actor
from tandem.audit.models import AuditEntry
from tandem.crm import services as crm
from tandem.crm.models import Person
from tandem.predict import selectors, services
from tandem.predict.models import ModelKind, PredictedScore, PredictiveModel
from tandem.predict.tests.factories import START, make_history

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("tests")
LATER = START + dt.timedelta(days=30)
SMALL = services.TrainingOptions(folds=3, min_outcomes_per_class=20)


def test_too_few_outcomes_keep_the_rule_score_and_say_why():
    make_history(converted=30, disqualified=12)
    with time_machine.travel(LATER, tick=False):
        model = services.predict_model_train(by=SYSTEM)
    assert (model.number, model.kind, model.is_active) == (1, ModelKind.RULE_FALLBACK, True)
    assert model.fallback_reason == (
        "Too few decided outcomes to learn from: 30 converted and 12 not converted; at least 200 of each are "
        "needed. The rule scores (fit and engagement) are used meanwhile."
    )
    assert (model.positives, model.negatives, model.model_text, model.cv_auc) == (30, 12, "", None)
    assert PredictedScore.objects.count() == 0
    assert not Person.objects.filter(predictive_score__isnull=False).exists()
    entry = AuditEntry.objects.get(action="predict_fallback")
    assert (entry.entity_type, entry.entity_id) == ("predict.predictivemodel", model.pk)


def test_a_trained_model_scores_everyone_with_factors():
    people = make_history(converted=40, disqualified=40, open_people=3)
    with time_machine.travel(LATER, tick=False):
        model = services.predict_model_train(by=SYSTEM, options=SMALL)
    assert (model.kind, model.is_active, model.positives, model.negatives, model.cv_folds) == ("model", True, 40, 40, 3)
    assert model.cv_auc > 0.7
    used = [item["name"] for item in model.card["features_used"]]
    assert used[0] == "custom.budget"
    assert "lifecycle_stage" not in used
    assert PredictedScore.objects.count() == 83
    open_person = people[-1]
    prediction = selectors.person_prediction(person_id=open_person.pk)
    assert prediction.model == model
    assert Person.objects.get(pk=open_person.pk).predictive_score == prediction.score
    factors = prediction.factors_up + prediction.factors_down
    budget = next(factor for factor in factors if factor["feature"] == "custom.budget")
    assert budget["value"] == open_person.custom_fields["budget"]
    high = PredictedScore.objects.filter(person__custom_fields__budget="high")
    low = PredictedScore.objects.filter(person__custom_fields__budget="low")
    assert min(score.score for score in high) > max(score.score for score in low)
    assert AuditEntry.objects.filter(action="predict_train", entity_id=model.pk).count() == 1


def test_a_field_filled_after_the_outcome_is_not_used():
    make_history(converted=40, disqualified=40, late_note=True)
    with time_machine.travel(LATER, tick=False):
        model = services.predict_model_train(by=SYSTEM, options=SMALL)
    excluded = {item["name"]: item["reason"] for item in model.card["features_excluded"]}
    assert (
        excluded["custom.sales_note"]
        == "set after the outcome was known for 80 of 80 decided people who have it (100%)"
    )
    assert "custom.sales_note" not in [item["name"] for item in model.card["features_used"]]


def test_a_field_changed_after_the_outcome_is_read_as_it_was_then():
    people = make_history(converted=2, disqualified=1)
    person = people[1]
    with time_machine.travel(START + dt.timedelta(days=15), tick=False):
        person.refresh_from_db()
        crm.person_update(
            by=SYSTEM,
            person=person,
            changes={"custom_fields": {**person.custom_fields, "budget": "none"}, "source": "Phone"},
        )
    decided = selectors.outcomes(selectors.Definition(["customer"], ["disqualified"]), now=LATER)
    assert decided[person.pk].label == 1 and decided[person.pk].at == START + dt.timedelta(days=10)
    timing = selectors.TimingCheck()
    columns = selectors.feature_columns(
        [person.pk], as_of=LATER, outcome_at={person.pk: decided[person.pk].at}, timing=timing
    )
    assert (columns["custom.budget"], columns["source"]) == (["high"], ["Web"])
    assert (timing.late["custom.budget"], timing.late["source"]) == (1, 1)
    now_columns = selectors.feature_columns([person.pk], as_of=LATER)
    assert (now_columns["custom.budget"], now_columns["source"]) == (["none"], ["Phone"])


def test_touchpoints_count_only_before_the_outcome():
    from tandem.engagement.models import Touchpoint

    people = make_history(converted=1, disqualified=0)
    person = people[0]
    for days in (5, 9, 12):
        Touchpoint.objects.create(person=person, type="form_submit", occurred_at=START + dt.timedelta(days=days))
    outcome = START + dt.timedelta(days=10)
    before = selectors.feature_columns([person.pk], as_of=LATER, outcome_at={person.pk: outcome})
    now = selectors.feature_columns([person.pk], as_of=LATER)
    assert (before["touchpoints.form_submit"], before["touchpoints.total"]) == ([2], [2])
    assert (now["touchpoints.form_submit"], now["touchpoints.total"]) == ([3], [3])


def test_rollback_reactivates_an_earlier_version_and_rescores(django_capture_on_commit_callbacks):
    make_history(converted=40, disqualified=40)
    with time_machine.travel(LATER, tick=False):
        first = services.predict_model_train(by=SYSTEM, options=SMALL)
        second = services.predict_model_train(
            by=SYSTEM,
            options=services.TrainingOptions(folds=3, min_outcomes_per_class=20, excluded_fields=["custom.budget"]),
        )
    assert [model.number for model in PredictiveModel.objects.filter(is_active=True)] == [2]
    assert {score.model_id for score in PredictedScore.objects.all()} == {second.pk}
    with django_capture_on_commit_callbacks(execute=True):
        services.predict_model_rollback(by=SYSTEM, model=first)
    assert [model.number for model in PredictiveModel.objects.filter(is_active=True)] == [1]
    assert {score.model_id for score in PredictedScore.objects.all()} == {first.pk}
    entry = AuditEntry.objects.get(action="predict_rollback")
    assert (entry.before, entry.after) == ({"active": 2}, {"active": 1})
    with pytest.raises(ValidationError, match="already the active model"):
        services.predict_model_rollback(by=SYSTEM, model=first)
    assert AuditEntry.objects.filter(action="predict_rollback").count() == 1


def test_unknown_stages_are_refused_naming_the_setting():
    with pytest.raises(ValidationError) as error:
        services.predict_model_train(by=SYSTEM, options=services.TrainingOptions(negative_stages=["lost"]))
    assert list(error.value.message_dict) == ["negative_stages"]
    assert "Unknown lifecycle stage: lost" in error.value.message_dict["negative_stages"][0]
    assert PredictiveModel.objects.count() == 0


def test_settings_update_is_validated_and_audited():
    saved = services.predict_settings_update(by=SYSTEM, changes={"excluded_fields": ["custom.tags", " custom.x_* "]})
    assert saved.excluded_fields == ["custom.tags", "custom.x_*"]
    entry = AuditEntry.objects.get(entity_type="predict.predictsettings")
    assert entry.after == {"excluded_fields": ["custom.tags", "custom.x_*"]}
    with pytest.raises(ValidationError) as error:
        services.predict_settings_update(by=SYSTEM, changes={"cv_folds": 1})
    assert list(error.value.message_dict) == ["cv_folds"]
    with pytest.raises(ValidationError) as error:
        services.predict_settings_update(
            by=SYSTEM, changes={"positive_stages": ["customer"], "negative_stages": ["customer"]}
        )
    assert "both outcomes" in error.value.message_dict["negative_stages"][0]
    assert selectors.settings_get().cv_folds == 5
    assert AuditEntry.objects.filter(entity_type="predict.predictsettings").count() == 1


def test_rescoring_in_chunks_reads_each_chunks_own_people(monkeypatch):
    make_history(converted=40, disqualified=40, open_people=5)
    with time_machine.travel(LATER, tick=False):
        model = services.predict_model_train(by=SYSTEM, options=SMALL)
    whole = dict(PredictedScore.objects.values_list("person_id", "score"))
    monkeypatch.setattr(services, "SCORE_CHUNK", 30)
    monkeypatch.setattr(selectors, "SMALL_SET", 10)
    with time_machine.travel(LATER, tick=False):
        assert services.predict_scores_refresh(model=model) == 85
    assert dict(PredictedScore.objects.values_list("person_id", "score")) == whole
