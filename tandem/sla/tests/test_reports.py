"""SLA compliance by rep, team, segment and period, with median and p90 response times; the rollup."""

import datetime as dt

import numpy as np
import pytest

from tandem.handoff.models import Handoff, SlaStatus
from tandem.sla.models import SlaMonthlyRollup, SlaRollupMonth
from tandem.sla.rollup import BUCKET_COUNT, bucket_indices, histogram_percentile, rollup_groups
from tandem.sla.selectors import months_with_handoffs, sla_compliance
from tandem.sla.services import sla_rollup_mark, sla_rollup_refresh
from tandem.sla.tests.support import make_handoff
from tandem.users.tests.factories import TeamFactory, UserFactory

UTC = dt.UTC


def test_buckets_are_a_minute_wide_below_two_hours_then_wider():
    minutes = np.array([0, 0.5, 1, 59.99, 119.5, 120, 124.9, 125, 479, 480, 509, 510, 2399, 2400, 11999, 12000, 99999])
    assert bucket_indices(minutes).tolist() == [
        0,
        0,
        1,
        59,
        119,
        120,
        120,
        121,
        191,
        192,
        192,
        193,
        255,
        256,
        295,
        296,
        296,
    ]
    assert BUCKET_COUNT == 297


def test_percentiles_of_one_minute_buckets_match_percentile_cont_to_the_minute():
    values = [12.0, 30.5, 45.2, 61.0, 90.0]
    histogram = np.zeros(BUCKET_COUNT, dtype=np.int64)
    np.add.at(histogram, bucket_indices(np.array(values)), 1)
    assert histogram_percentile(histogram, 0.5) == 45.5  # percentile_cont: 45.2, its bucket [45, 46)
    assert histogram_percentile(histogram, 0.0) == 12.5
    assert histogram_percentile(histogram, 1.0) == 90.5
    # percentile_cont gives 61 + (90 - 61) * 0.6 = 78.4; with each value at its bucket's middle, 78.9.
    assert histogram_percentile(histogram, 0.9) == pytest.approx(78.9)
    assert histogram_percentile(np.zeros(BUCKET_COUNT, dtype=np.int64), 0.5) is None


def test_rollup_groups_counts_statuses_and_histograms_per_key():
    groups = rollup_groups(["7", "7", "8", "7"], ["met", "breached", "pending", "met"], [30.0, 300.0, None, 30.2])
    assert [(g.key, g.handoffs, g.met, g.breached, g.pending) for g in groups] == [("7", 3, 2, 1, 0), ("8", 1, 0, 0, 1)]
    assert int(groups[0].histogram[30]) == 2
    assert int(groups[0].histogram.sum()) == 3
    assert int(groups[1].histogram.sum()) == 0
    assert rollup_groups([], [], []) == []


@pytest.fixture
def history(cast):
    """Hand-offs of two reps in two teams over March and April 2026, with stored clock results."""
    emea = TeamFactory(name="Sales EMEA")
    emma = UserFactory(email="emma@example.com", role="sdr", team=emea)
    made = []

    def add(rep, created, status, minutes, segment="", policy="standard"):
        handoff = make_handoff(assignee=rep, at=created, email=f"lead{len(made)}@firm{len(made)}.com", segment=segment)
        Handoff.objects.filter(pk=handoff.pk).update(
            sla_status=status, response_business_minutes=minutes, sla_policy=policy, due_at=created
        )
        made.append(handoff)

    march, april = dt.datetime(2026, 3, 10, 15, tzinfo=UTC), dt.datetime(2026, 4, 14, 15, tzinfo=UTC)
    add(cast.sdr, march, SlaStatus.MET, 20.0, "Enterprise", "tier_1")
    add(cast.sdr, march, SlaStatus.MET, 50.0, "Enterprise", "tier_1")
    add(cast.sdr, march, SlaStatus.BREACHED, 300.0)
    add(cast.sdr, april, SlaStatus.MET, 100.0)
    add(cast.sdr, april, SlaStatus.PENDING, None)
    add(emma, march, SlaStatus.BREACHED, None, "Enterprise")
    add(emma, april, SlaStatus.MET, 10.0)
    sla_rollup_refresh(months=months_with_handoffs(), now=dt.datetime(2026, 4, 20, tzinfo=UTC))
    return {"emma": emma, "emea": emea}


@pytest.mark.django_db
def test_compliance_by_rep(cast, history):
    rows = {row.key: row for row in sla_compliance(group_by="rep")}
    sam = rows[cast.sdr.pk]
    assert (sam.handoffs, sam.met, sam.breached, sam.pending) == (5, 3, 1, 1)
    assert sam.compliance == 0.75
    # Answered in 20, 50, 100 and 300 business minutes: median between 50 and 100.
    assert sam.median_response_hours == round(((50.5 + 100.5) / 2) / 60, 2)
    emma = rows[history["emma"].pk]
    assert (emma.handoffs, emma.met, emma.breached, emma.compliance) == (2, 1, 1, 0.5)
    assert emma.median_response_hours == round(10.5 / 60, 2)


@pytest.mark.django_db
def test_compliance_by_team_per_month(cast, history):
    rows = [
        (row.key, row.period, row.met, row.breached, row.pending)
        for row in sla_compliance(group_by="team", period="month")
    ]
    assert rows == [
        (cast.teams.sales.pk, dt.date(2026, 3, 1), 2, 1, 0),
        (history["emea"].pk, dt.date(2026, 3, 1), 0, 1, 0),
        (cast.teams.sales.pk, dt.date(2026, 4, 1), 1, 0, 1),
        (history["emea"].pk, dt.date(2026, 4, 1), 1, 0, 0),
    ]


@pytest.mark.django_db
def test_compliance_by_segment_and_policy_per_quarter(cast, history):
    segments = {
        (row.key, row.period): (row.met, row.breached) for row in sla_compliance(group_by="segment", period="quarter")
    }
    assert segments == {
        ("", dt.date(2026, 1, 1)): (0, 1),
        ("Enterprise", dt.date(2026, 1, 1)): (2, 1),
        ("", dt.date(2026, 4, 1)): (2, 0),
    }
    policies = {row.key: (row.met, row.breached, row.p90_response_hours) for row in sla_compliance(group_by="policy")}
    assert policies["tier_1"] == (2, 0, round((20.5 + (50.5 - 20.5) * 0.9) / 60, 2))
    assert policies["standard"][:2] == (2, 2)


@pytest.mark.django_db
def test_a_month_range_limits_the_report(cast, history):
    rows = sla_compliance(group_by="rep", first_month=dt.date(2026, 4, 1), last_month=dt.date(2026, 4, 30))
    assert sorted((row.key, row.handoffs) for row in rows) == sorted([(cast.sdr.pk, 2), (history["emma"].pk, 1)])


@pytest.mark.django_db
def test_a_bad_grouping_is_refused():
    with pytest.raises(ValueError, match="group_by must be one of rep, team, segment, policy"):
        sla_compliance(group_by="campaign")
    with pytest.raises(ValueError, match="period must be one of month, quarter, year"):
        sla_compliance(period="fortnight")


@pytest.mark.django_db
def test_a_change_marks_its_month_and_the_refresh_rebuilds_only_dirty_ones(cast, history):
    assert not SlaRollupMonth.objects.filter(is_dirty=True).exists()
    handoff = Handoff.objects.filter(sla_status=SlaStatus.PENDING).get()
    Handoff.objects.filter(pk=handoff.pk).update(sla_status=SlaStatus.MET, response_business_minutes=30.0)
    sla_rollup_mark(created_at=[handoff.created_at])
    assert list(SlaRollupMonth.objects.filter(is_dirty=True).values_list("month", flat=True)) == [dt.date(2026, 4, 1)]
    # Rebuilt at most every five minutes: not at 20 April 00:03, but at 00:05.
    assert sla_rollup_refresh(now=dt.datetime(2026, 4, 20, 0, 3, tzinfo=UTC)) == 0
    assert sla_rollup_refresh(now=dt.datetime(2026, 4, 20, 0, 5, tzinfo=UTC)) == 1
    sam = next(row for row in sla_compliance(group_by="rep") if row.key == cast.sdr.pk)
    assert (sam.met, sam.pending) == (4, 0)
    assert SlaMonthlyRollup.objects.filter(month=dt.date(2026, 3, 1), dimension="rep").count() == 2
