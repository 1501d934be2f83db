"""Background work of lifetime value: thin entry points that call services."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from tandem.audit.actors import Actor
from tandem.clv import selectors, services
from tandem.users.models import User


@db_task(retries=1, retry_delay=60)
def clv_refit(user_id: int | None = None, unit: str = "weeks", horizon_months: int = 12) -> int:
    """Refit the models and store everyone's value, on behalf of the user who asked (checked again here)."""
    by = User.objects.get(pk=user_id) if user_id else Actor.system("lifetime value refit")
    return services.clv_refit(by=by, unit=unit, horizon_months=horizon_months).version


@db_periodic_task(crontab(day_of_week="1", hour="4", minute="0"))
def clv_weekly_refit() -> int | None:
    """Every Monday, refit with the latest fit's unit and horizon once a first fit has been made."""
    latest = selectors.latest_fit()
    if latest is None:
        return None
    fit = services.clv_refit(
        by=Actor.system("weekly lifetime value refit"),
        unit=latest.unit,
        horizon_months=latest.horizon_months or services.DEFAULT_HORIZON_MONTHS,
        monthly_discount_rate=latest.monthly_discount_rate
        if latest.monthly_discount_rate is not None
        else services.DEFAULT_MONTHLY_DISCOUNT_RATE,
    )
    return fit.version
