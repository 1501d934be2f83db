"""`{% predictive_score_panel person %}`: the predictive score and its factors on the person record page."""

from django import template

from tandem.predict import presentation, selectors
from tandem.predict.models import ModelKind

register = template.Library()


@register.inclusion_tag("predict/_score_panel.html")
def predictive_score_panel(person):
    model = selectors.active_model()
    prediction = selectors.person_prediction(person_id=person.pk) if model and model.kind == ModelKind.MODEL else None
    return {
        "person": person,
        "model": model,
        "prediction": prediction,
        "percent": round(prediction.probability * 100, 1) if prediction else None,
        "factors_up": presentation.factor_rows(prediction.factors_up) if prediction else [],
        "factors_down": presentation.factor_rows(prediction.factors_down) if prediction else [],
    }


@register.filter
def feature_label(name: str) -> str:
    return presentation.feature_label(name)
