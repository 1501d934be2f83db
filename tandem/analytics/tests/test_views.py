"""The scorecard pages end to end through the HTTP client, over the hand-computed company."""

import csv
import datetime as dt
import io

import pytest
import time_machine
from django.urls import reverse
from huey.contrib.djhuey import HUEY

from tandem.analytics import selectors, services, tasks
from tandem.analytics.models import RevenueTarget, SavedView, ScorecardSnapshot
from tandem.analytics.periods import Period
from tandem.analytics.selectors import ScorecardFilters
from tandem.analytics.tests.fixtures import build_company, queued_snapshot_fills, run_queued_snapshot_fills
from tandem.audit.models import AuditEntry

pytestmark = pytest.mark.django_db
TODAY = dt.datetime(2026, 4, 10, 12, tzinfo=dt.UTC)


@pytest.fixture
def company(cast):
    built = build_company(cast)
    services.stage_entries_catch_up()  # the worker's run, a few seconds after the stage changes
    return built


@pytest.fixture
def client_of(client):
    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in


@time_machine.travel(TODAY, tick=False)
def test_scorecard_shows_every_tile_with_change_sparkline_drill_and_glossary(company, cast, client_of):
    client_of(cast.marketer).get(reverse("analytics:scorecard"), {"period": "2026-Q1"})
    run_queued_snapshot_fills()  # the worker keeps the closed periods' snapshots
    response = client_of(cast.marketer).get(reverse("analytics:scorecard"), {"period": "2026-Q1"})
    assert response.status_code == 200
    html = response.content.decode()
    for key in (
        "won_revenue",
        "mqls",
        "sal_acceptance",
        "sla_compliance",
        "conversion",
        "velocity",
        "win_rate",
        "pipeline_coverage",
        "cac",
        "clv",
    ):
        assert f'id="kpi-{key}"' in html
    tiles = {view["tile"].key: view for view in response.context["tiles"]}
    assert tiles["mqls"]["display"] == "5"
    assert tiles["mqls"]["change"] == "+400%"  # 1 MQL in Q4 2025
    assert tiles["win_rate"]["display"] == "66.7%"
    assert tiles["won_revenue"]["display"] == "4,000 USD"
    assert tiles["mqls"]["glossary_url"] == "/contract/#term-mql"
    assert tiles["win_rate"]["glossary_url"] == "/contract/#term-win-rate"
    assert len(tiles["mqls"]["spark"]["segments"]) == 1
    assert "<polyline" in html
    assert tiles["mqls"]["drill_url"] == "/people/?entered=mql&entered_from=2026-01-01&entered_until=2026-04-01"
    # the closed periods were kept as snapshots as they stood today
    assert ScorecardSnapshot.objects.filter(view_key="", period_kind="quarter").count() == 7


@time_machine.travel(TODAY, tick=False)
def test_the_first_view_leaves_the_past_periods_to_one_task_on_the_worker(company, cast, client_of, monkeypatch):
    # A fresh install: no snapshot kept yet. The page computes the quarter it shows, not the seven before it.
    computed = []
    real_tiles = selectors.scorecard_tiles
    monkeypatch.setattr(
        selectors, "scorecard_tiles", lambda filters, period: computed.append(period) or real_tiles(filters, period)
    )
    client = client_of(cast.marketer)
    for _ in range(2):
        response = client.get(reverse("analytics:scorecard"), {"period": "2026-Q1"})
        assert response.status_code == 200
    assert {period.key for period in computed} == {"2026-Q1"}
    assert ScorecardSnapshot.objects.count() == 0
    assert len(queued_snapshot_fills()) == 1  # once, not once per view
    assert [period.short_label for period in response.context["history_pending"]] == [
        "Q2 24",
        "Q3 24",
        "Q4 24",
        "Q1 25",
        "Q2 25",
        "Q3 25",
        "Q4 25",
    ]
    tiles = {view["tile"].key: view for view in response.context["tiles"]}
    assert tiles["mqls"]["display"] == "5"  # the quarter itself at once
    assert (tiles["mqls"]["change"], tiles["mqls"]["previous"]) == ("being computed", "—")
    html = response.content.decode()
    assert 'id="history-pending"' in html and 'hx-trigger="load delay:5s"' in html

    # The worker's run keeps the seven snapshots; the page (its next poll) shows the changes and sparklines.
    queued = queued_snapshot_fills()[0].kwargs
    assert tasks.scorecard_snapshots_fill.call_local(**queued) == 7
    HUEY.flush()
    response = client.get(reverse("analytics:scorecard"), {"period": "2026-Q1"}, HTTP_HX_REQUEST="true")
    assert response.context["history_pending"] == []
    assert queued_snapshot_fills() == []
    tiles = {view["tile"].key: view for view in response.context["tiles"]}
    assert (tiles["mqls"]["change"], tiles["mqls"]["previous"]) == ("+400%", "1")  # 1 MQL in Q4 2025
    assert 'id="history-pending"' not in response.content.decode()
    # What the worker kept is what the page used to compute itself.
    for snapshot in ScorecardSnapshot.objects.all():
        period = Period(snapshot.period_kind, snapshot.period_start, snapshot.period_end)
        assert snapshot.values == selectors.tiles_values(real_tiles(ScorecardFilters(), period))
        assert snapshot.as_of == TODAY.date()
    # Run again (a duplicate delivery), it keeps nothing twice.
    assert tasks.scorecard_snapshots_fill.call_local(**queued) == 0


@time_machine.travel(TODAY, tick=False)
def test_the_drill_down_lists_exactly_the_records_behind_the_number(company, cast, client_of):
    client = client_of(cast.marketer)
    scorecard = client.get(reverse("analytics:scorecard"), {"period": "2026-Q1"})
    tiles = {view["tile"].key: view for view in scorecard.context["tiles"]}
    people = client.get(tiles["conversion"]["drill_url"])
    assert sorted(person.email for person in people.context["page"].rows) == [
        "p1@alpha.example",
        "p2@alpha.example",
        "p3@beta.example",
    ]
    assert "then reached sql or later" in people.content.decode()
    deals = client.get(tiles["win_rate"]["drill_url"])
    assert sorted(deal.name for deal in deals.context["page"].rows) == ["O1", "O2", "O3"]
    export = client.get(
        reverse("exports:download", args=["opportunities", "csv"]) + "?" + tiles["win_rate"]["drill_url"].split("?")[1]
    )
    lines = b"".join(export.streaming_content).decode().splitlines()
    assert len(lines) == 4  # header and the three closed deals


@time_machine.travel(TODAY, tick=False)
def test_the_htmx_filter_swaps_the_tiles_with_the_filtered_numbers(company, cast, client_of):
    response = client_of(cast.marketer).get(
        reverse("analytics:scorecard"), {"period": "2026-Q1", "owner": cast.ae.pk}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert html.startswith('<section id="scorecard-body"')
    tiles = {view["tile"].key: view for view in response.context["tiles"]}
    assert tiles["mqls"]["display"] == "2"
    assert f"owner={cast.ae.pk}" in tiles["mqls"]["drill_url"]


@time_machine.travel(TODAY, tick=False)
def test_a_bad_period_is_named_and_the_current_quarter_shown(company, cast, client_of):
    response = client_of(cast.marketer).get(reverse("analytics:scorecard"), {"period": "someday"}, follow=True)
    assert response.context["period"].key == "2026-Q2"
    assert "period: expected a month" in response.content.decode()


@time_machine.travel(TODAY, tick=False)
@pytest.mark.parametrize("page", ["funnel", "conversion", "trends", "cohorts", "pipeline"])
def test_every_analysis_page_renders_with_drill_down_links(company, cast, client_of, page):
    response = client_of(cast.sdr).get(reverse("analytics:analysis", args=[page]), {"period": "2026-Q1"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "/people/?" in html or "/opportunities/?" in html


@time_machine.travel(TODAY, tick=False)
def test_chart_data_downloads_as_csv(company, cast, client_of):
    response = client_of(cast.marketer).get(reverse("analytics:chart-csv", args=["conversion"]), {"period": "2026-Q1"})
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:4] == ["from", "to", "cohort", "reached"]
    mql_sql = next(row for row in rows if row[:2] == ["mql", "sal"])
    assert mql_sql[2:4] == ["5", "3"]
    funnel = client_of(cast.marketer).get(
        reverse("analytics:chart-csv", args=["funnel"]), {"period": "2026-Q1", "from": "lead"}
    )
    assert funnel.content.decode().splitlines()[1] == "Lead,3,1.0"


@time_machine.travel(TODAY, tick=False)
def test_only_revops_and_leadership_set_the_revenue_target(company, cast, client_of):
    data = {"period_start": "2026-04-01", "period_end": "2026-06-30", "amount": "50000", "currency": "USD"}
    refused = client_of(cast.marketer).post(reverse("analytics:targets"), data)
    assert refused.status_code == 403
    assert not RevenueTarget.objects.filter(period_start=dt.date(2026, 4, 1)).exists()
    saved = client_of(cast.leadership).post(reverse("analytics:targets"), data)
    assert saved.status_code == 302
    assert RevenueTarget.objects.get(period_start=dt.date(2026, 4, 1)).amount == 50000
    assert AuditEntry.objects.filter(action="revenue_target_set", actor=cast.leadership).count() == 1


@time_machine.travel(TODAY, tick=False)
def test_saved_views_are_private_unless_shared_by_a_manager(company, cast, client_of):
    client = client_of(cast.marketer)
    client.post(
        reverse("analytics:view-create"),
        {"name": "EMEA", "page": "scorecard", "query": "region=EMEA&period=2026-Q1", "is_shared": "1"},
    )
    assert not SavedView.objects.exists()  # a marketer may not share with everyone
    client.post(
        reverse("analytics:view-create"), {"name": "EMEA", "page": "scorecard", "query": "region=EMEA&period=2026-Q1"}
    )
    view = SavedView.objects.get()
    assert (view.owner, view.is_shared, view.query) == (cast.marketer, False, "region=EMEA&period=2026-Q1")
    assert client_of(cast.sdr).get(reverse("analytics:view-open", args=[view.pk])).status_code == 403
    opened = client_of(cast.marketer).get(reverse("analytics:view-open", args=[view.pk]))
    assert opened["Location"] == "/scorecard/?region=EMEA&period=2026-Q1"
    client_of(cast.sales_manager).post(
        reverse("analytics:view-create"), {"name": "Mine", "page": "funnel", "query": "owner=1", "is_shared": "1"}
    )
    assert SavedView.objects.get(name="Mine").is_shared is True
    refused = client_of(cast.marketer).post(
        reverse("analytics:view-create"), {"name": "Bad", "page": "scorecard", "query": "owner=abc"}
    )
    assert refused.status_code == 302
    assert not SavedView.objects.filter(name="Bad").exists()
