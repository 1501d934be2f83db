"""History, sharing and freshness: daily snapshots, what was true then, the weekly digest, live stage changes."""

import datetime as dt

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError

from tandem.analytics import selectors, services, tasks
from tandem.analytics.models import DigestSubscription, PipelineSnapshot, RevenueTarget, ScorecardSnapshot
from tandem.analytics.periods import Period
from tandem.analytics.selectors import ScorecardFilters
from tandem.analytics.tests.fixtures import build_company, queued_snapshot_fills
from tandem.crm import services as crm_services
from tandem.crm.tests.factories import make_opportunity, make_person

pytestmark = pytest.mark.django_db
Q1 = Period("quarter", dt.date(2026, 1, 1), dt.date(2026, 4, 1))
Q2 = Period("quarter", dt.date(2026, 4, 1), dt.date(2026, 7, 1))
ALL = ScorecardFilters()


@pytest.fixture
def company(cast):
    return build_company(cast)


def test_the_daily_snapshot_keeps_the_periods_in_progress_just_closed_and_the_pipeline(company):
    with time_machine.travel(dt.datetime(2026, 4, 1, 0, 10, tzinfo=dt.UTC), tick=False):
        stored = services.scorecards_snapshot_daily()
    assert stored == 4  # April and Q2 in progress, March and Q1 just closed
    q1 = ScorecardSnapshot.objects.get(view_key="", period_kind="quarter", period_start=dt.date(2026, 1, 1))
    assert q1.as_of == dt.date(2026, 3, 31)
    assert q1.values["mqls"]["value"] == 5
    assert q1.values["won_revenue"]["value"] == 4000
    assert PipelineSnapshot.objects.filter(as_of=dt.date(2026, 4, 1)).count() == 2
    with time_machine.travel(dt.datetime(2026, 4, 1, 0, 20, tzinfo=dt.UTC), tick=False):
        assert services.scorecards_snapshot_daily() == 4  # run twice, stored once
    assert ScorecardSnapshot.objects.count() == 4


def test_the_previous_period_shows_what_was_true_at_its_close(company, cast):
    with time_machine.travel(dt.datetime(2026, 4, 1, 0, 10, tzinfo=dt.UTC), tick=False):
        services.scorecards_snapshot_daily()
    # A deal won in Q1 is entered late, in April.
    make_opportunity(
        company.accounts.a2, name="Late", stage="closed_won", amount="2500", close_date=dt.date(2026, 3, 20)
    )
    live = {tile.key: tile for tile in selectors.scorecard_tiles(ALL, Q1)}
    assert live["won_revenue"].value == 6500
    values = services.period_values(filters=ALL, periods=[Q1], today=dt.date(2026, 4, 15))
    assert values[Q1]["won_revenue"]["value"] == 4000


def test_a_closed_period_without_a_snapshot_is_kept_when_first_seen(company):
    values = services.period_values(filters=ALL, periods=[Q1, Q2], today=dt.date(2026, 4, 15))
    assert values[Q1]["mqls"]["value"] == 5
    kept = ScorecardSnapshot.objects.get()
    assert (kept.period_start, kept.as_of) == (dt.date(2026, 1, 1), dt.date(2026, 4, 15))


def test_a_snapshot_task_that_failed_is_queued_again_only_once_its_mark_is_stale(company, monkeypatch):
    morning = dt.datetime(2026, 4, 15, 9, tzinfo=dt.UTC)
    with time_machine.travel(morning, tick=False):
        assert services.scorecard_snapshots_queue(filters=ALL, periods=[Q1]) is True
        assert services.scorecard_snapshots_queue(filters=ALL, periods=[Q1]) is False  # queued already
        (task,) = queued_snapshot_fills()

        def broken(tiles):
            raise RuntimeError("the database went away")

        monkeypatch.setattr(selectors, "tiles_values", broken)
        with pytest.raises(RuntimeError):
            tasks.scorecard_snapshots_fill.call_local(**task.kwargs)
        # The pages polling meanwhile do not queue a failing run every few seconds.
        assert services.scorecard_snapshots_queue(filters=ALL, periods=[Q1]) is False
    monkeypatch.undo()
    later = morning + dt.timedelta(seconds=services.SNAPSHOTS_QUEUED_STALE_SECONDS + 1)
    with time_machine.travel(later, tick=False):
        assert services.scorecard_snapshots_queue(filters=ALL, periods=[Q1]) is True
        assert len(queued_snapshot_fills()) == 2
        assert tasks.scorecard_snapshots_fill.call_local(**task.kwargs) == 1
        assert ScorecardSnapshot.objects.get().values["mqls"]["value"] == 5
        # Done: its mark is cleared, and a view that finds the snapshot kept queues nothing.
        assert services.period_values_or_queue(filters=ALL, periods=[Q1], today=later.date())[1] == []
        assert len(queued_snapshot_fills()) == 2
        assert services.scorecard_snapshots_queue(filters=ALL, periods=[Q1]) is True  # the mark was cleared


def test_pipeline_as_of_a_past_day_reads_that_days_snapshot(company, cast):
    with time_machine.travel(dt.datetime(2026, 3, 10, 0, 10, tzinfo=dt.UTC), tick=False):
        services.pipeline_snapshot_take(as_of=dt.date(2026, 3, 10))
    crm_services.opportunity_update(by=cast.revops, opportunity=company.deals.o5, changes={"stage": "closed_won"})
    with time_machine.travel(dt.datetime(2026, 3, 12, 9, tzinfo=dt.UTC), tick=False):
        today, _ = selectors.pipeline(ALL)
        then, day = selectors.pipeline(ALL, dt.date(2026, 3, 11))
    assert [cell.stage for cell in today] == ["discovery"]
    assert day == dt.date(2026, 3, 10)
    assert [(cell.stage, cell.count, cell.weighted_amount) for cell in then] == [
        ("discovery", 1, 1000.0),
        ("proposal", 1, 5000.0),
    ]


def test_a_new_stage_change_shows_on_the_scorecard_at_once(company, cast):
    with time_machine.travel(dt.datetime(2026, 5, 4, 9, tzinfo=dt.UTC), tick=False):
        before = {tile.key: tile for tile in selectors.scorecard_tiles(ALL, Q2)}["mqls"].value
        person = make_person(email="new@gamma.example")
        crm_services.lifecycle_transition(person=person, to_stage="mql", by=cast.marketer, reason="webinar")
        after = {tile.key: tile for tile in selectors.scorecard_tiles(ALL, Q2)}["mqls"].value
    assert (before, after) == (0, 1)


def test_the_weekly_digest_reaches_each_subscriber_once_a_day(company, cast):
    services.digest_subscribe(user=cast.marketer)
    services.digest_subscribe(user=cast.ae)
    with time_machine.travel(dt.datetime(2026, 3, 30, 7, tzinfo=dt.UTC), tick=False):
        assert services.digests_send(base_url="https://tandem.example") == 2
        assert services.digests_send() == 0
    assert sorted(message.to[0] for message in mail.outbox) == ["alice@example.com", "erin@example.com"]
    body = mail.outbox[0].body
    assert "Scorecard for Q1 2026" in body
    assert "- MQLs vs goal: 5 (previous: 1)" in body
    assert "https://tandem.example/scorecard/" in body
    assert DigestSubscription.objects.filter(last_sent_on=dt.date(2026, 3, 30)).count() == 2
    assert services.digest_unsubscribe(user=cast.ae) is True
    assert DigestSubscription.objects.count() == 1


def test_a_private_view_cannot_be_subscribed_to_by_others(company, cast):
    view = services.saved_view_create(by=cast.marketer, name="Mine", page="scorecard", query="region=EMEA")
    with pytest.raises(PermissionDenied):
        services.digest_subscribe(user=cast.ae, view=view)
    assert not DigestSubscription.objects.exists()


def test_revenue_target_input_is_checked_by_field(company, cast):
    with pytest.raises(ValidationError) as error:
        services.revenue_target_set(
            period_start=dt.date(2026, 4, 1), period_end=dt.date(2026, 3, 1), amount=10, by=cast.revops
        )
    assert "period_end" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        services.revenue_target_set(
            period_start=dt.date(2026, 4, 1), period_end=dt.date(2026, 6, 30), amount=-5, by=cast.revops
        )
    assert "amount" in error.value.message_dict
    with pytest.raises(PermissionDenied):
        services.revenue_target_set(
            period_start=dt.date(2026, 4, 1), period_end=dt.date(2026, 6, 30), amount=5, by=cast.ae
        )
    assert RevenueTarget.objects.count() == 1  # the fixture's Q1 target only
    services.revenue_target_set(
        period_start=dt.date(2026, 1, 1), period_end=dt.date(2026, 3, 31), amount=15000, by=cast.leadership
    )
    assert RevenueTarget.objects.get().amount == 15000


def test_the_cached_tiles_count_a_new_stage_change_at_once(company, cast):
    with time_machine.travel(dt.datetime(2026, 5, 4, 9, tzinfo=dt.UTC), tick=False):
        first = {tile.key: tile for tile in selectors.scorecard_tiles_cached(ALL, Q2)}["mqls"].value
        again = {tile.key: tile for tile in selectors.scorecard_tiles_cached(ALL, Q2)}["mqls"].value
        person = make_person(email="late@gamma.example")
        crm_services.lifecycle_transition(person=person, to_stage="mql", by=cast.marketer, reason="form")
        after = {tile.key: tile for tile in selectors.scorecard_tiles_cached(ALL, Q2)}["mqls"].value
    assert (first, again, after) == (0, 0, 1)
