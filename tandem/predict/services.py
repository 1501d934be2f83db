"""Writes of the predictive score: train a version, score everyone, roll back, change the settings."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from tandem.audit.actors import as_actor
from tandem.audit.services import audit_record
from tandem.crm.models import LifecycleStage, Person
from tandem.predict import engine, selectors
from tandem.predict.models import ModelKind, PredictedScore, PredictiveModel, PredictSettings

SCORE_CHUNK = 20_000


@dataclass
class TrainingOptions:
    """One run's choices; None takes the workspace setting."""

    folds: int | None = None
    excluded_fields: list[str] | None = None
    positive_stages: list[str] | None = None
    negative_stages: list[str] | None = None
    open_negative_after_days: int | None = None
    min_outcomes_per_class: int | None = None


def _check_stages(field: str, keys: list[str]) -> None:
    known = set(LifecycleStage.objects.values_list("key", flat=True))
    unknown = [key for key in keys if key not in known]
    if unknown:
        raise ValidationError(
            {field: f"Unknown lifecycle stage: {', '.join(unknown)} (known: {', '.join(sorted(known))})."}
        )


def _resolved(options: TrainingOptions) -> dict:
    saved = selectors.settings_get()
    resolved = {
        "folds": options.folds if options.folds is not None else saved.cv_folds,
        "excluded_fields": list(
            options.excluded_fields if options.excluded_fields is not None else saved.excluded_fields
        ),
        "positive_stages": list(options.positive_stages or saved.positive_stages),
        "negative_stages": list(options.negative_stages or saved.negative_stages),
        "open_negative_after_days": (
            options.open_negative_after_days
            if options.open_negative_after_days is not None
            else saved.open_negative_after_days
        ),
        "min_outcomes_per_class": options.min_outcomes_per_class or saved.min_outcomes_per_class,
    }
    if not 2 <= resolved["folds"] <= 20:
        raise ValidationError({"folds": "Cross-validation needs between 2 and 20 folds."})
    _check_stages("positive_stages", resolved["positive_stages"])
    _check_stages("negative_stages", resolved["negative_stages"])
    overlap = set(resolved["positive_stages"]) & set(resolved["negative_stages"])
    if overlap:
        raise ValidationError({"negative_stages": f"A stage cannot be both outcomes: {', '.join(sorted(overlap))}."})
    return resolved


def _next_number() -> int:
    return (PredictiveModel.objects.aggregate(top=Max("number"))["top"] or 0) + 1


def predict_model_train(
    *, by, options: TrainingOptions | None = None, now: dt.datetime | None = None
) -> PredictiveModel:
    """Train a new version on the decided people and make it active, or record why the rule score stays in use."""
    now = now or timezone.now()
    resolved = _resolved(options or TrainingOptions())
    definition = selectors.Definition(
        positive_stages=resolved["positive_stages"],
        negative_stages=resolved["negative_stages"],
        open_negative_after_days=resolved["open_negative_after_days"],
    )
    decided = selectors.outcomes(definition, now=now)
    positives = sum(outcome.label for outcome in decided.values())
    negatives = len(decided) - positives
    actor = as_actor(by)
    common = {
        "trained_at": now,
        "trained_by": actor.user if actor.user is not None and actor.user.pk else None,
        "trained_by_label": actor.display[:200],
        "positives": positives,
        "negatives": negatives,
    }
    card = {"outcome": {**vars(definition)}, "settings": resolved, "always_excluded": selectors.ALWAYS_EXCLUDED}
    needed = resolved["min_outcomes_per_class"]
    if positives < needed or negatives < needed:
        reason = (
            f"Too few decided outcomes to learn from: {positives:,} converted and {negatives:,} not converted; "
            f"at least {needed:,} of each are needed. The rule scores (fit and engagement) are used meanwhile."
        )
        with transaction.atomic():
            model = _activate(
                PredictiveModel(
                    number=_next_number(), kind=ModelKind.RULE_FALLBACK, fallback_reason=reason, card=card, **common
                )
            )
            _scores_clear()
            audit_record(by=by, action="predict_fallback", instance=model, after={"reason": reason}, summary=reason)
        return model

    person_ids = sorted(decided)
    outcome_at = {person_id: decided[person_id].at for person_id in person_ids}
    timing = selectors.TimingCheck()
    columns = selectors.feature_columns(person_ids, as_of=now, outcome_at=outcome_at, timing=timing)
    excluded = {**selectors.excluded_by_pattern(columns, resolved["excluded_fields"])}
    for name, reason in timing.late_columns().items():
        excluded.setdefault(name, reason)
    usable = {name: values for name, values in columns.items() if name not in excluded}
    specs, unusable = engine.features_infer(usable)
    for exclusion in unusable:
        excluded[exclusion.name] = exclusion.reason
    if not specs:
        raise ValidationError({"features": "No field is left to learn from after the exclusions."})
    labels = np.array([decided[person_id].label for person_id in person_ids], dtype=np.float64)
    matrix = engine.features_encode(specs, usable)
    categorical = [index for index, spec in enumerate(specs) if spec.kind == engine.CATEGORICAL]
    trained = engine.model_train(matrix, labels, categorical=categorical, folds=resolved["folds"])
    card.update(
        {
            "fold_aucs": trained.fold_aucs,
            "cv_rows": trained.cv_rows,
            "out_of_fold_auc": trained.out_of_fold_auc,
            "calibration_bins": trained.calibration_bins,
            "gain_curve": trained.gain_curve,
            "features_used": sorted(
                (
                    {"name": spec.name, "kind": spec.kind, "importance": importance}
                    for spec, importance in zip(specs, trained.importance, strict=True)
                ),
                key=lambda item: -item["importance"],
            ),
            "features_excluded": [{"name": name, "reason": excluded[name]} for name in sorted(excluded)],
            "params": trained.params,
        }
    )
    with transaction.atomic():
        model = _activate(
            PredictiveModel(
                number=_next_number(),
                kind=ModelKind.MODEL,
                cv_folds=trained.folds,
                cv_auc=trained.cv_auc,
                card=card,
                features=[spec.as_dict() for spec in specs],
                calibration={"raw": trained.calibration.raw, "probability": trained.calibration.probability},
                model_text=trained.model_text,
                training_seconds=trained.seconds,
                **common,
            )
        )
        audit_record(
            by=by,
            action="predict_train",
            instance=model,
            after={
                "number": model.number,
                "cv_auc": round(trained.cv_auc, 4),
                "positives": positives,
                "negatives": negatives,
            },
            summary=f"Trained predictive model v{model.number}: cross-validated AUC {trained.cv_auc:.3f}",
        )
    predict_scores_refresh(model=model, now=now)
    return model


def _activate(model: PredictiveModel) -> PredictiveModel:
    PredictiveModel.objects.filter(is_active=True).update(is_active=False)
    model.is_active = True
    model.save()
    return model


def _scores_clear() -> None:
    PredictedScore.objects.all().delete()
    Person.objects.filter(predictive_score__isnull=False).update(predictive_score=None)


def scorer_for(model: PredictiveModel) -> engine.Scorer:
    calibration = engine.Calibration(raw=model.calibration["raw"], probability=model.calibration["probability"])
    return engine.Scorer(model.model_text, calibration)


def _factor_rows(specs, matrix_row, feature_indices, values) -> list[dict]:
    rows = []
    for index, contribution in zip(feature_indices, values, strict=True):
        if index < 0:
            continue
        spec = specs[index]
        rows.append(
            {
                "feature": spec.name,
                "value": engine.describe_value(spec, matrix_row[index]),
                "contribution": round(float(contribution), 4),
            }
        )
    return rows


def predict_scores_refresh(
    *, model: PredictiveModel | None = None, now: dt.datetime | None = None, person_ids=None
) -> int:
    """Score everyone (or `person_ids`) under `model` (default: the active one); returns how many were scored."""
    model = model or selectors.active_model()
    now = now or timezone.now()
    if model is None or model.kind != ModelKind.MODEL:
        return 0
    specs = [engine.FeatureSpec.from_dict(item) for item in model.features]
    scorer = scorer_for(model)
    everyone = person_ids is None
    ids = selectors.people_ids() if everyone else sorted(person_ids)
    scored = 0
    with transaction.atomic():
        if everyone:
            PredictedScore.objects.all().delete()
        else:
            PredictedScore.objects.filter(person_id__in=ids).delete()
        for start in range(0, len(ids), SCORE_CHUNK):
            chunk = ids[start : start + SCORE_CHUNK]
            columns = selectors.feature_columns(chunk, as_of=now)
            matrix = engine.features_encode(specs, columns)
            batch = scorer.score(matrix)
            PredictedScore.objects.bulk_create(
                [
                    PredictedScore(
                        person_id=person_id,
                        model=model,
                        score=int(batch.score[row]),
                        probability=float(batch.probability[row]),
                        factors_up=_factor_rows(specs, matrix[row], batch.up_features[row], batch.up_values[row]),
                        factors_down=_factor_rows(specs, matrix[row], batch.down_features[row], batch.down_values[row]),
                        scored_at=now,
                    )
                    for row, person_id in enumerate(chunk)
                ],
                batch_size=2_000,
            )
            scored += len(chunk)
        _copy_to_people(everyone, ids)
    return scored


def _copy_to_people(everyone: bool, ids) -> None:
    """Mirror the scores into Person.predictive_score, which lists, filters and exports read: one statement."""
    person_table = Person._meta.db_table
    score_table = PredictedScore._meta.db_table
    sql = (
        f"UPDATE {person_table} SET predictive_score = "  # noqa: S608 - table names from the models
        f"(SELECT s.score FROM {score_table} s WHERE s.person_id = {person_table}.id)"
    )
    with connection.cursor() as cursor:
        if everyone:
            cursor.execute(sql)
        else:
            for start in range(0, len(ids), 500):
                chunk = list(ids[start : start + 500])
                cursor.execute(sql + f" WHERE id IN ({', '.join(['%s'] * len(chunk))})", chunk)


@transaction.atomic
def predict_model_rollback(*, by, model: PredictiveModel) -> PredictiveModel:
    """Make an earlier trained version active again and rescore everyone under it."""
    model = PredictiveModel.objects.select_for_update().get(pk=model.pk)
    if model.kind != ModelKind.MODEL:
        raise ValidationError({"model": f"v{model.number} is a rule-score fallback, not a trained model."})
    if model.is_active:
        raise ValidationError({"model": f"v{model.number} is already the active model."})
    previous = selectors.active_model()
    _activate(model)
    audit_record(
        by=by,
        action="predict_rollback",
        instance=model,
        before={"active": previous.number if previous else None},
        after={"active": model.number},
        summary=f"Rolled back the predictive score to model v{model.number}",
    )
    from tandem.predict.tasks import predict_rescore

    transaction.on_commit(predict_rescore)
    return model


SETTINGS_FIELDS = [
    "positive_stages",
    "negative_stages",
    "open_negative_after_days",
    "excluded_fields",
    "min_outcomes_per_class",
    "cv_folds",
]


@transaction.atomic
def predict_settings_update(*, by, changes: dict) -> PredictSettings:
    """Change what counts as an outcome, the exclusion list, the outcome minimum or the number of folds."""
    unknown = sorted(set(changes) - set(SETTINGS_FIELDS))
    if unknown:
        raise ValidationError(dict.fromkeys(unknown, "This setting does not exist."))
    saved = selectors.settings_get()
    for name in ("positive_stages", "negative_stages", "excluded_fields"):
        if name in changes:
            value = changes[name]
            if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
                raise ValidationError({name: "Expected a list of names."})
            changes[name] = [item.strip() for item in value]
    if "min_outcomes_per_class" in changes and not (
        isinstance(changes["min_outcomes_per_class"], int) and changes["min_outcomes_per_class"] >= 20
    ):
        raise ValidationError({"min_outcomes_per_class": "Expected a whole number of at least 20."})
    merged = TrainingOptions(
        folds=changes.get("cv_folds", saved.cv_folds),
        positive_stages=changes.get("positive_stages", saved.positive_stages),
        negative_stages=changes.get("negative_stages", saved.negative_stages),
    )
    try:
        _resolved(merged)
    except ValidationError as error:
        if "folds" in error.message_dict:
            raise ValidationError({"cv_folds": error.message_dict["folds"]}) from error
        raise
    before = {name: getattr(saved, name) for name in changes}
    for name, value in changes.items():
        setattr(saved, name, value)
    saved.updated_at = timezone.now()
    actor = as_actor(by)
    saved.updated_by = actor.user if actor.user is not None and actor.user.pk else None
    saved.save()
    after = {name: getattr(saved, name) for name in changes}
    audit_record(
        by=by, action="update", instance=saved, before=before, after=after, summary="Changed " + ", ".join(changes)
    )
    return saved
