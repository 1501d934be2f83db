"""Lifetime-value fits of the workspace's won deals and the values they give accounts and people."""

from django.conf import settings
from django.db import models


class TimeUnit(models.TextChoices):
    WEEKS = "weeks", "Weeks"
    DAYS = "days", "Days"


class ClvFit(models.Model):
    """One maximum-likelihood fit of BG/NBD and Gamma-Gamma on the won deals (numbered versions).

    A customer is an account, or the primary person of a won deal without an account; its
    purchases are its won opportunities by close date and amount.
    """

    version = models.PositiveIntegerField(unique=True)
    unit = models.CharField(max_length=5, choices=TimeUnit.choices, default=TimeUnit.WEEKS)
    calibration_end = models.DateField(help_text="Purchases closed on or before this day were used.")
    customers = models.PositiveIntegerField()
    repeat_customers = models.PositiveIntegerField()
    r = models.FloatField()
    alpha = models.FloatField()
    a = models.FloatField()
    b = models.FloatField()
    bgnbd_log_likelihood = models.FloatField()
    p = models.FloatField()
    q = models.FloatField()
    gamma = models.FloatField()
    gamma_gamma_log_likelihood = models.FloatField()
    gamma_gamma_customers = models.PositiveIntegerField(help_text="Repeat buyers with a positive mean repeat spend.")
    fitted_at = models.DateTimeField()
    fitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    fitted_by_label = models.CharField(max_length=200)
    seconds = models.FloatField(help_text="Time the fit took.")
    # The predictions last stored with this fit (the latest fit's are the ones in force).
    predicted_at = models.DateTimeField(null=True, blank=True)
    horizon_months = models.PositiveSmallIntegerField(null=True, blank=True)
    monthly_discount_rate = models.FloatField(null=True, blank=True)
    values_stored = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"CLV fit v{self.version}"


class CustomerValue(models.Model):
    """Historical and predicted lifetime value of one account or one person, from the latest prediction.

    Exactly one of account and person is set. Only the values of the latest prediction are kept.
    """

    fit = models.ForeignKey(ClvFit, on_delete=models.CASCADE, related_name="values")
    account = models.OneToOneField(
        "crm.Account", null=True, blank=True, on_delete=models.CASCADE, related_name="lifetime_value"
    )
    person = models.OneToOneField(
        "crm.Person", null=True, blank=True, on_delete=models.CASCADE, related_name="lifetime_value"
    )
    as_of = models.DateField(help_text="The day the values were computed for.")
    purchases = models.PositiveIntegerField(help_text="Won deals on distinct days up to as_of.")
    historical_value = models.DecimalField(max_digits=16, decimal_places=2, help_text="Sum of won amounts.")
    first_purchase_on = models.DateField()
    last_purchase_on = models.DateField()
    frequency = models.PositiveIntegerField(help_text="Repeat purchases (purchase days after the first).")
    recency = models.FloatField(help_text="First to last purchase, in the fit's unit.")
    age = models.FloatField(help_text="First purchase to as_of (T), in the fit's unit.")
    monetary_value = models.FloatField(help_text="Mean value of the repeat purchase days.")
    probability_alive = models.FloatField()
    expected_purchases = models.FloatField(help_text="Expected purchases over the horizon.")
    expected_spend = models.FloatField(help_text="Expected value of one future purchase.")
    predicted_value = models.DecimalField(
        max_digits=16, decimal_places=2, help_text="Discounted expected value over the horizon."
    )

    class Meta:
        indexes = [models.Index(fields=["predicted_value"])]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(account__isnull=False, person__isnull=True))
                | (models.Q(account__isnull=True, person__isnull=False)),
                name="clv_value_of_account_or_person",
            )
        ]

    def __str__(self) -> str:
        subject = f"account {self.account_id}" if self.account_id else f"person {self.person_id}"
        return f"CLV {self.predicted_value} of {subject}"
