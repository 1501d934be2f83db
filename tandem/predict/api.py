"""API of the predictive lead score: the model card, versions, a person's score and factors, training and settings."""

import datetime as dt

from django.core.exceptions import PermissionDenied
from django.http import Http404
from ninja import Field, Router, Schema, Status

from tandem.crm.models import Person
from tandem.lib.http_api import Input, get_or_404
from tandem.predict import permissions, selectors, services, tasks
from tandem.predict.models import ModelKind, PredictiveModel

router = Router(tags=["Predictive score"])


class FactorOut(Schema):
    feature: str
    value: str
    contribution: float = Field(description="SHAP value in log-odds: how far this field moves the score.")


class ModelOut(Schema):
    number: int
    kind: str
    is_active: bool
    trained_at: dt.datetime
    trained_by: str = Field(alias="trained_by_label")
    positives: int
    negatives: int
    cv_folds: int
    cv_auc: float | None
    fallback_reason: str


class CardOut(ModelOut):
    card: dict


class PersonScoreOut(Schema):
    person_id: int
    score: int | None
    probability: float | None
    model: int | None
    scored_at: dt.datetime | None
    factors_up: list[FactorOut]
    factors_down: list[FactorOut]
    rule_score_in_use: bool
    reason: str
    fit_score: int
    engagement_score: int


class SettingsIn(Input):
    positive_stages: list[str] | None = None
    negative_stages: list[str] | None = None
    open_negative_after_days: int | None = Field(None, ge=1)
    excluded_fields: list[str] | None = None
    min_outcomes_per_class: int | None = None
    cv_folds: int | None = None


class SettingsOut(Schema):
    positive_stages: list[str]
    negative_stages: list[str]
    open_negative_after_days: int | None
    excluded_fields: list[str]
    min_outcomes_per_class: int
    cv_folds: int


def _require_manager(request) -> None:
    if not permissions.can_manage_model(request.user):
        raise PermissionDenied("Only RevOps / admin trains, rolls back or configures the predictive score.")


def _model(number: int) -> PredictiveModel:
    model = PredictiveModel.objects.filter(number=number).first()
    if model is None:
        raise Http404(f"Model v{number} not found")
    return model


@router.get("/predict/card", response=CardOut)
def get_card(request):
    """The active model's card: cross-validated AUC, calibration bins, gain curve, features used and left out."""
    model = selectors.active_model()
    if model is None:
        raise Http404("No predictive model has been trained yet; the rule scores are in use")
    return model


@router.get("/predict/models", response=list[ModelOut])
def list_models(request):
    return selectors.model_versions()


@router.get("/predict/models/{number}", response=CardOut)
def get_model(request, number: int):
    return _model(number)


@router.post("/predict/models/{number}/activate", response=ModelOut)
def activate_model(request, number: int):
    """Roll back: make an earlier trained version active again; everyone is rescored under it."""
    _require_manager(request)
    return services.predict_model_rollback(by=request.user, model=_model(number))


@router.post("/predict/train", response={202: dict})
def train(request):
    """Queue a training run on the worker; the new version appears in /predict/models when done."""
    _require_manager(request)
    tasks.predict_train(request.user.pk)
    return Status(202, {"detail": "Training queued."})


@router.get("/predict/settings", response=SettingsOut)
def get_settings(request):
    return selectors.settings_get()


@router.patch("/predict/settings", response=SettingsOut)
def update_settings(request, payload: SettingsIn):
    _require_manager(request)
    return services.predict_settings_update(by=request.user, changes=payload.model_dump(exclude_unset=True))


@router.get("/people/{person_id}/predictive-score", response=PersonScoreOut)
def person_score(request, person_id: int):
    """A person's predictive score with its factors; while no model is trained, says the rule score is in use."""
    person = get_or_404(Person.objects.all(), person_id, "Person")
    model = selectors.active_model()
    prediction = selectors.person_prediction(person_id=person_id) if model and model.kind == ModelKind.MODEL else None
    if model is None:
        reason = "No predictive model has been trained yet."
    elif model.kind == ModelKind.RULE_FALLBACK:
        reason = model.fallback_reason
    else:
        reason = "" if prediction else f"Not scored yet under model v{model.number}."
    return {
        "person_id": person.pk,
        "score": prediction.score if prediction else None,
        "probability": prediction.probability if prediction else None,
        "model": prediction.model.number if prediction else None,
        "scored_at": prediction.scored_at if prediction else None,
        "factors_up": prediction.factors_up if prediction else [],
        "factors_down": prediction.factors_down if prediction else [],
        "rule_score_in_use": prediction is None,
        "reason": reason,
        "fit_score": person.fit_score,
        "engagement_score": person.engagement_score,
    }
