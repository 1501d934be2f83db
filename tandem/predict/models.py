"""The predictive lead score: its settings, its trained model versions and each person's latest score."""

from django.conf import settings
from django.db import models

DEFAULT_POSITIVE_STAGES = ["opportunity", "customer", "evangelist", "churned"]
DEFAULT_NEGATIVE_STAGES = ["disqualified"]
DEFAULT_MIN_OUTCOMES = 200


def _default_positive_stages() -> list[str]:
    return list(DEFAULT_POSITIVE_STAGES)


def _default_negative_stages() -> list[str]:
    return list(DEFAULT_NEGATIVE_STAGES)


class PredictSettings(models.Model):
    """The workspace's choices for training (one row): what counts as an outcome and which fields stay out."""

    positive_stages = models.JSONField(default=_default_positive_stages)
    negative_stages = models.JSONField(default=_default_negative_stages)
    # People still open this many days after they were created count as negatives; None: never.
    open_negative_after_days = models.PositiveIntegerField(null=True, blank=True)
    excluded_fields = models.JSONField(default=list, blank=True)
    min_outcomes_per_class = models.PositiveIntegerField(default=DEFAULT_MIN_OUTCOMES)
    cv_folds = models.PositiveSmallIntegerField(default=5)
    updated_at = models.DateTimeField(null=True, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name_plural = "predict settings"

    def __str__(self) -> str:
        return "Predictive score settings"


class ModelKind(models.TextChoices):
    MODEL = "model", "Trained model"
    RULE_FALLBACK = "rule_fallback", "Rule score (too few outcomes)"


class PredictiveModel(models.Model):
    """One training run's result, numbered: a LightGBM model with its card, or the reason none was trained."""

    number = models.PositiveIntegerField(unique=True)
    kind = models.CharField(max_length=20, choices=ModelKind.choices)
    is_active = models.BooleanField(default=False)
    trained_at = models.DateTimeField()
    trained_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    trained_by_label = models.CharField(max_length=200)
    fallback_reason = models.CharField(max_length=500, blank=True)
    positives = models.PositiveIntegerField(default=0)
    negatives = models.PositiveIntegerField(default=0)
    cv_folds = models.PositiveSmallIntegerField(default=0)
    cv_auc = models.FloatField(null=True, blank=True)
    # The card: fold AUCs, calibration bins, gain curve, features used (with importance) and excluded (with why),
    # the outcome definition and training parameters.
    card = models.JSONField(default=dict, blank=True)
    features = models.JSONField(default=list, blank=True)
    calibration = models.JSONField(default=dict, blank=True)
    model_text = models.TextField(blank=True)
    training_seconds = models.FloatField(default=0)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=models.Q(is_active=True), name="one_active_model")
        ]

    def __str__(self) -> str:
        return f"Model v{self.number}"


class PredictedScore(models.Model):
    """A person's latest predictive score under the active model, with the factors that moved it most."""

    person = models.OneToOneField("crm.Person", on_delete=models.CASCADE, related_name="predicted_score")
    model = models.ForeignKey(PredictiveModel, on_delete=models.CASCADE, related_name="scores")
    score = models.PositiveSmallIntegerField()
    probability = models.FloatField()
    # [{"feature", "value", "contribution"}] strongest first; contributions are log-odds (SHAP values).
    factors_up = models.JSONField(default=list)
    factors_down = models.JSONField(default=list)
    scored_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["-score", "person"], name="predicted_score_rank")]

    def __str__(self) -> str:
        return f"{self.person_id}: {self.score}"
