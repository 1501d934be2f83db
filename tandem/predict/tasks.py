"""Background work of the predictive score: weekly retraining and rescoring, thin entry points over services."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task, lock_task

from tandem.audit.actors import Actor
from tandem.predict import services


@db_periodic_task(crontab(day_of_week="1", hour="3", minute="0"))
@lock_task("predict-train")
def predict_retrain_weekly() -> int:
    """Every Monday 03:00: train a new version on the latest outcomes (or record why the rule score stays)."""
    return services.predict_model_train(by=Actor.system("weekly retraining")).number


@db_task()
@lock_task("predict-train")
def predict_train(user_id: int | None = None) -> int:
    """Train now, on behalf of the user who asked from the card page or the API."""
    from tandem.users.models import User

    by = User.objects.get(pk=user_id) if user_id else Actor.system("predict train")
    return services.predict_model_train(by=by).number


@db_periodic_task(crontab(hour="4", minute="30"))
@lock_task("predict-rescore")
def predict_rescore_daily() -> int:
    """Every day 04:30: rescore everyone under the active model, so new people and new touchpoints count."""
    return services.predict_scores_refresh()


@db_task()
def predict_rescore(person_ids: list[int] | None = None) -> int:
    """Score everyone (or these people) under the active model; safe to run twice."""
    return services.predict_scores_refresh(person_ids=person_ids)
