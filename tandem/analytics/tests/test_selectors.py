"""Every scorecard KPI over the hand-computed company of fixtures.py, and its drill-down listing the same records."""

import datetime as dt
from urllib.parse import urlencode

import pytest
from django.http import QueryDict

from tandem.analytics import selectors, services
from tandem.analytics.periods import Period
from tandem.analytics.selectors import ScorecardFilters
from tandem.analytics.tests.fixtures import build_company
from tandem.crm import list_filters
from tandem.crm.selectors import opportunity_queryset, person_queryset

Q1 = Period("quarter", dt.date(2026, 1, 1), dt.date(2026, 4, 1))


@pytest.fixture
def company(cast):
    built = build_company(cast)
    services.stage_entries_catch_up()  # what the worker does within seconds of a stage change
    return built


ALL = ScorecardFilters()


def tiles(filters=ALL, period=Q1):
    return {tile.key: tile for tile in selectors.scorecard_tiles(filters, period)}


def drilled(tile, cast):
    kind, params = tile.drill
    query = QueryDict(urlencode(params))
    if kind == "people":
        return set(person_queryset(list_filters.person_filters(query, cast.revops)).values_list("email", flat=True))
    return set(
        opportunity_queryset(list_filters.opportunity_filters(query, cast.revops)).values_list("name", flat=True)
    )


def test_mqls_count_each_person_once_against_marketing_goal(company, cast):
    tile = tiles()["mqls"]
    assert tile.value == 5
    assert tile.parts == {"mqls": 5, "goal": 6.0, "attainment": 5 / 6}
    assert drilled(tile, cast) == {
        "p1@alpha.example",
        "p2@alpha.example",
        "p3@beta.example",
        "p4@beta.example",
        "p8@beta.example",
    }


def test_conversion_follows_the_cohort_through_recycles_and_skips(company, cast):
    result = tiles()
    assert result["conversion"].parts == {"cohort": 5, "reached": 3}
    assert result["conversion"].value == 0.6
    assert result["velocity"].value == 10.0
    assert result["velocity"].parts["p75_days"] == 25.5
    assert drilled(result["conversion"], cast) == {"p1@alpha.example", "p2@alpha.example", "p3@beta.example"}


def test_the_previous_quarter_has_its_own_cohort(company):
    previous = tiles(period=Q1.previous())
    assert previous["mqls"].value == 1  # P6
    assert previous["conversion"].parts == {"cohort": 1, "reached": 1}
    assert previous["velocity"].value == pytest.approx(13.0)  # Dec 20 to Jan 2


def test_won_revenue_win_rate_and_coverage(company, cast):
    result = tiles()
    assert result["won_revenue"].value == 4000
    assert result["won_revenue"].parts["target"] == 12000
    assert result["won_revenue"].parts["attainment"] == 1 / 3
    assert result["win_rate"].value == 2 / 3
    assert result["win_rate"].parts["by_value"] == 0.5
    assert result["pipeline_coverage"].value == 0.625
    assert drilled(result["won_revenue"], cast) == {"O1", "O2"}
    assert drilled(result["win_rate"], cast) == {"O1", "O2", "O3"}
    assert drilled(result["pipeline_coverage"], cast) == {"O5"}


def test_cac_counts_only_accounts_winning_for_the_first_time(company, cast):
    tile = tiles()["cac"]
    assert tile.parts["new_customers"] == 1
    assert tile.value == pytest.approx(9000 + 1000 * 30 / 61)
    assert drilled(tile, cast) == {"O1"}


def test_historical_clv_is_won_revenue_per_customer_to_the_period_end(company, cast):
    tile = tiles()["clv"]
    assert tile.value == 2250
    assert tile.parts == {"revenue": 4500.0, "customers": 2}
    assert drilled(tile, cast) == {"O0", "O1", "O2"}


def test_sal_acceptance_and_sla_compliance(company, cast):
    result = tiles()
    assert result["sal_acceptance"].value == 2 / 3
    assert result["sal_acceptance"].parts == {"accepted": 2, "rejected": 1, "pending": 1}
    assert result["sla_compliance"].value == 2 / 3
    assert result["sla_compliance"].parts == {"met": 2, "breached": 1, "running": 1}
    assert drilled(result["sal_acceptance"], cast) == {"p1@alpha.example", "p3@beta.example"}


def test_owner_and_segment_filters_narrow_every_kpi(company, cast):
    mine = tiles(ScorecardFilters(owner_id=cast.ae.pk))
    assert mine["mqls"].value == 2
    assert mine["conversion"].parts == {"cohort": 2, "reached": 2}
    assert drilled(mine["mqls"], cast) == {"p1@alpha.example", "p2@alpha.example"}
    emea = tiles(ScorecardFilters(region="EMEA"))
    assert emea["win_rate"].parts["won"] == 1  # O1 of Alpha; O3 lost
    assert emea["win_rate"].value == 0.5
    assert emea["won_revenue"].value == 1000


def test_a_period_without_data_shows_no_rate_rather_than_zero(company):
    empty = tiles(period=Period("quarter", dt.date(2024, 1, 1), dt.date(2024, 4, 1)))
    assert (empty["conversion"].value, empty["win_rate"].value, empty["sla_compliance"].value) == (None, None, None)
    assert empty["won_revenue"].parts["target"] is None
    assert empty["pipeline_coverage"].available is False


def test_funnel_from_lead_counts_skips_as_passing_through(company):
    rows = selectors.funnel(ScorecardFilters(), Q1, "lead")
    assert [(row.stage, row.reached) for row in rows] == [
        ("lead", 3),
        ("mql", 3),
        ("sal", 2),
        ("sql", 2),
        ("opportunity", 2),
        ("customer", 2),
        ("evangelist", 0),
    ]


def test_conversion_table_between_consecutive_stages(company):
    rows = {
        (row.from_stage, row.to_stage): row.conversion for row in selectors.conversion_table(ScorecardFilters(), Q1)
    }
    assert (rows[("mql", "sal")].cohort, rows[("mql", "sal")].reached) == (5, 3)  # P3 reached SAL by skipping it
    assert rows[("mql", "sal")].median_days == pytest.approx(3.0)  # 2, 3 and 32 days
    assert (rows[("lead", "mql")].cohort, rows[("lead", "mql")].reached) == (3, 3)
    assert (rows[("mql", "customer")].cohort, rows[("mql", "customer")].reached) == (5, 1)


def test_cohort_table_by_month_of_entry(company):
    stages, rows = selectors.cohort_table(ScorecardFilters(), Q1, "mql", months=3)
    assert [stage.key for stage in stages][:3] == ["mql", "sal", "sql"]
    assert [(month.key, counts[:3]) for month, counts in rows] == [
        ("2026-01", [2, 2, 2]),
        ("2026-02", [2, 1, 1]),
        ("2026-03", [1, 0, 0]),
    ]


def test_trends_month_by_month(company):
    rows = selectors.trends(ScorecardFilters(), Q1, months=3)
    assert [(row["month"].key, row["mqls"], row["sqls"], row["won_revenue"]) for row in rows] == [
        ("2026-01", 2, 2, 1000.0),
        ("2026-02", 3, 2, 3000.0),
        ("2026-03", 1, 0, 0.0),
    ]


def test_pipeline_by_stage_and_forecast_category(company):
    cells, _ = selectors.pipeline(ScorecardFilters())
    assert [(cell.stage, cell.forecast_category, cell.count, cell.amount, cell.weighted_amount) for cell in cells] == [
        ("discovery", "pipeline", 1, 4000.0, 1000.0),
        ("proposal", "best_case", 1, 10000.0, 5000.0),
    ]


def test_an_accounts_own_stage_change_is_not_a_person_entering_the_stage(company):
    from tandem.analytics.tests.fixtures import at
    from tandem.crm.models import StageChange

    StageChange.objects.create(
        account=company.accounts.a1, to_stage_id="mql", at=at(2026, 2, 3), actor_type="system", actor_label="tests"
    )
    assert tiles()["mqls"].value == 5
    services.stage_entries_catch_up()
    rows = {(row.from_stage, row.to_stage): row for row in selectors.conversion_table(ScorecardFilters(), Q1)}
    assert rows[("mql", "sal")].entered_from == 5


def test_a_won_deal_moved_back_to_negotiation_is_open_pipeline_again(company, cast):
    from tandem.crm import services as crm_services

    # O2 (won 3,000 on Feb 15, Beta's second win) is re-opened: it moves back to Negotiation (80 %).
    crm_services.opportunity_update(by=cast.revops, opportunity=company.deals.o2, changes={"stage": "negotiation"})
    result = tiles()
    assert result["won_revenue"].value == 1000
    assert (result["win_rate"].parts["won"], result["win_rate"].parts["lost"]) == (1, 1)
    assert result["win_rate"].value == 0.5
    assert result["pipeline_coverage"].value == pytest.approx((5000 + 2400) / (12000 - 1000))
    assert drilled(result["pipeline_coverage"], cast) == {"O2", "O5"}
    assert result["clv"].parts == {"revenue": 1500.0, "customers": 2}  # O0 (Beta) and O1 (Alpha)
    assert result["cac"].parts["new_customers"] == 1  # O1 still Alpha's first win
