"""The KPI definitions on plain numbers: hand-computed values, including repeats, skips and empty periods."""

import datetime as dt

import numpy as np
import pytest

from tandem.analytics import kpis
from tandem.analytics.periods import Period, PeriodError, period_parse

DAY = kpis.SECONDS_PER_DAY
NAN = np.nan


def test_a_person_who_entered_twice_counts_once_from_the_first_entry():
    # person 1 entered A on day 0 and again on day 20 (after a recycle), reaching B on day 30
    conversion = kpis.cohort_conversion([1, 1, 2], [20 * DAY, 0, 5 * DAY], [30 * DAY, 30 * DAY, NAN])
    assert (conversion.cohort, conversion.reached) == (2, 1)
    assert conversion.rate == 0.5
    assert conversion.median_days == 30.0


def test_velocity_is_the_median_and_interpolated_p75_of_those_who_reached():
    conversion = kpis.cohort_conversion([1, 2, 3, 4], [0, 0, 0, 0], [10 * DAY, 41 * DAY, 3 * DAY, NAN])
    assert (conversion.cohort, conversion.reached) == (4, 3)
    assert conversion.median_days == 10.0
    assert conversion.p75_days == 25.5  # sorted 3, 10, 41: 10 + 0.5 × 31


def test_within_days_counts_only_those_who_reached_in_time():
    conversion = kpis.cohort_conversion([1, 2, 3], [0, 0, 0], [10 * DAY, 41 * DAY, 3 * DAY], within_days=30)
    assert (conversion.reached, conversion.rate) == (2, 2 / 3)
    assert conversion.median_days == 6.5


def test_an_empty_cohort_has_no_rate_rather_than_zero():
    conversion = kpis.cohort_conversion([], [], [])
    assert (conversion.cohort, conversion.rate, conversion.median_days, conversion.p75_days) == (0, None, None, None)


def test_funnel_counts_a_person_at_every_stage_up_to_the_furthest():
    # positions 1 lead, 2 mql, 3 sal; someone who skipped to sal (3) counts at mql too
    assert kpis.funnel([1, 3, 2, 3], [1, 2, 3]) == [4, 3, 2]


def test_win_rate_and_attainment():
    assert kpis.win_rate(2, 1) == 2 / 3
    assert kpis.win_rate(4000, 4000) == 0.5
    assert kpis.win_rate(0, 0) is None
    assert kpis.attainment(4000, 12000) == 1 / 3
    assert kpis.attainment(4000, None) is None


def test_pipeline_coverage_needs_a_target_not_yet_met():
    assert kpis.pipeline_coverage(5000, 12000, 4000) == 0.625
    assert kpis.pipeline_coverage(5000, None, 4000) is None
    assert kpis.pipeline_coverage(5000, 4000, 4000) is None


def test_sal_acceptance_sla_cac_and_clv():
    assert kpis.sal_acceptance_rate(2, 1) == 2 / 3
    assert kpis.sla_compliance(2, 1) == 2 / 3
    assert kpis.sla_compliance(0, 0) is None
    assert kpis.marketing_cac(9000, 3) == 3000
    assert kpis.marketing_cac(9000, 0) is None
    assert kpis.historical_clv(4500, 2) == 2250


def test_goals_count_by_their_days_inside_the_period():
    monthly = [
        kpis.Goal(dt.date(2026, month, 1), dt.date(2026, month + 1, 1) - dt.timedelta(days=1), 2) for month in (1, 2, 3)
    ]
    assert kpis.goal_for_period(monthly, dt.date(2026, 1, 1), dt.date(2026, 4, 1)) == 6
    quarterly = [kpis.Goal(dt.date(2026, 1, 1), dt.date(2026, 3, 31), 90)]
    assert kpis.goal_for_period(quarterly, dt.date(2026, 1, 1), dt.date(2026, 2, 1)) == 31
    assert kpis.goal_for_period(quarterly, dt.date(2026, 4, 1), dt.date(2026, 5, 1)) is None


def test_campaign_cost_is_spread_over_its_days():
    # 61 days (Dec 1 to Jan 30), 30 of them in January onwards
    assert kpis.prorated_cost(
        1000, dt.date(2025, 12, 1), dt.date(2026, 1, 30), dt.date(2026, 1, 1), dt.date(2026, 4, 1)
    ) == pytest.approx(1000 * 30 / 61)
    assert kpis.prorated_cost(1000, None, None, dt.date(2026, 1, 1), dt.date(2026, 4, 1)) == 1000


def test_change_against_the_previous_period():
    assert kpis.change(6, 4) == 0.5
    assert kpis.change(6, 0) is None
    assert kpis.change(None, 4) is None


def test_periods_parse_and_step_back():
    today = dt.date(2026, 11, 23)
    assert period_parse("", today=today) == Period("quarter", dt.date(2026, 10, 1), dt.date(2027, 1, 1))
    assert period_parse("2026-Q1", today=today).previous() == Period(
        "quarter", dt.date(2025, 10, 1), dt.date(2026, 1, 1)
    )
    assert period_parse("2026-03", today=today).history(3)[0].key == "2026-01"
    assert period_parse("2017", today=today).end == dt.date(2018, 1, 1)
    custom = period_parse("2026-01-01..2026-01-11", today=today)
    assert custom.previous() == Period("custom", dt.date(2025, 12, 22), dt.date(2026, 1, 1))
    with pytest.raises(PeriodError, match="expected a month"):
        period_parse("last week", today=today)
    with pytest.raises(PeriodError, match="Q1 to Q4"):
        period_parse("2026-Q5", today=today)
