"""The worker's refit tasks."""

import datetime as dt

import pytest
import time_machine

from tandem.audit.models import AuditEntry
from tandem.clv import services, tasks
from tandem.clv.models import ClvFit, CustomerValue
from tandem.clv.tests.factories import make_history

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 6, 30, 12, tzinfo=dt.UTC)


@time_machine.travel(NOW, tick=False)
def test_the_refit_task_acts_for_the_user_who_asked(cast):
    make_history()

    version = tasks.clv_refit(user_id=cast.revops.pk, unit="days", horizon_months=6).get()

    fit = ClvFit.objects.get()
    assert (version, fit.unit, fit.horizon_months, fit.fitted_by) == (1, "days", 6, cast.revops)
    assert AuditEntry.objects.filter(action="clv.predict", actor=cast.revops).count() == 1


@time_machine.travel(NOW, tick=False)
def test_the_weekly_refit_waits_for_a_first_fit_then_keeps_its_settings(cast):
    make_history()
    assert tasks.clv_weekly_refit.call_local() is None
    assert not ClvFit.objects.exists()

    services.clv_refit(by=cast.revops, unit="days", horizon_months=18, monthly_discount_rate=0.005)
    assert tasks.clv_weekly_refit.call_local() == 2

    fit = ClvFit.objects.get(version=2)
    assert (fit.unit, fit.horizon_months, fit.monthly_discount_rate) == ("days", 18, 0.005)
    assert fit.fitted_by_label == "System: weekly lifetime value refit"
    assert set(CustomerValue.objects.values_list("fit_id", flat=True)) == {fit.pk}
