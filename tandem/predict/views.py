"""The model card page: evidence of the active (or any) version, the versions, training, rollback and settings."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from tandem.predict import permissions, presentation, selectors, services, tasks
from tandem.predict.forms import PredictSettingsForm
from tandem.predict.models import ModelKind, PredictiveModel


def _version_or_active(request) -> PredictiveModel | None:
    number = request.GET.get("version", "")
    if number.isdigit():
        return PredictiveModel.objects.filter(number=int(number)).first()
    return selectors.active_model()


@login_required
@require_GET
def model_card(request):
    """What the model learnt from, how well it ranks and is calibrated, what it may not read, and its versions."""
    return _render_card(request)


def _render_card(request, form: PredictSettingsForm | None = None):
    model = _version_or_active(request)
    card = model.card if model else {}
    context = {
        "section": "predict",
        "model": model,
        "card": card,
        "is_model": bool(model and model.kind == ModelKind.MODEL),
        "versions": selectors.model_versions(),
        "can_manage": permissions.can_manage_model(request.user),
        "settings_form": form or PredictSettingsForm.for_settings(selectors.settings_get()),
        "features_used": [
            {**item, "label": presentation.feature_label(item["name"]), "width": round(160 * item["importance"])}
            for item in card.get("features_used", [])
        ],
        "features_excluded": card.get("features_excluded", []),
        "always_excluded": card.get("always_excluded", selectors.ALWAYS_EXCLUDED),
        "calibration": presentation.calibration_chart(card.get("calibration_bins", [])),
        "gain": presentation.gain_chart(card.get("gain_curve", [])),
    }
    return render(request, "predict/model_card.html", context, status=400 if form else 200)


def _require_manager(request) -> None:
    if not permissions.can_manage_model(request.user):
        raise PermissionDenied("Only RevOps / admin trains, rolls back or configures the predictive score.")


@login_required
@require_POST
def model_train(request):
    _require_manager(request)
    tasks.predict_train(request.user.pk)
    messages.success(request, "Training started on the worker; the new version appears here when it is done.")
    return redirect("predict:card")


@login_required
@require_POST
def model_activate(request, number: int):
    _require_manager(request)
    model = PredictiveModel.objects.filter(number=number).first()
    if model is None:
        return render(request, "404.html", {"what": f"Model v{number}"}, status=404)
    try:
        services.predict_model_rollback(by=request.user, model=model)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"Model v{number} is active again; everyone is being rescored under it.")
    return redirect("predict:card")


@login_required
@require_POST
def settings_update(request):
    _require_manager(request)
    form = PredictSettingsForm(request.POST)
    if form.is_valid():
        try:
            services.predict_settings_update(by=request.user, changes=form.changes())
        except ValidationError as error:
            for field, problems in error.message_dict.items():
                form.add_error(field if field in form.fields else None, problems)
        else:
            messages.success(request, "Settings saved; they apply from the next training.")
            return redirect("predict:card")
    return _render_card(request, form=form)
