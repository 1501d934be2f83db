"""Pipeline as of a past day, rebuilt from the opportunities' stage history for days before the first
daily snapshot (history brought in by an import), against a hand-computed fixture.

Stage changes at noon (amount at the change):
  OA discovery Mar 1 (1,000) → proposal Mar 3 (1,200; skips two stages) → qualification Mar 5 (back)
     → closed won Mar 7
  OB negotiation Mar 2 (5,000) → closed lost Mar 4 → negotiation Mar 6 (4,000; re-opened)
  OC no recorded stage change: open in discovery (2,000) since its creation Mar 4, 12:00
Default probabilities: discovery 10 %, qualification 20 %, proposal 60 %, negotiation 80 %.
The snapshot of day D is the pipeline just after midnight (moves on days before D):
  Mar 2: OA discovery 1,000 (100)
  Mar 3: OA discovery 1,000 (100); OB negotiation 5,000 (4,000)
  Mar 4: OA proposal 1,200 (720); OB negotiation 5,000 (4,000)
  Mar 5: OA proposal 1,200 (720); OC discovery 2,000 (200)            — OB lost
  Mar 6: OA qualification 1,200 (240); OC discovery 2,000 (200)
  Mar 7: OA qualification 1,200 (240); OB negotiation 4,000 (3,200); OC discovery 2,000 (200)
  Mar 8: OB negotiation 4,000 (3,200); OC discovery 2,000 (200)        — OA won
"""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command

from tandem.analytics import selectors, services, tasks
from tandem.analytics.models import PipelineSnapshot
from tandem.analytics.selectors import ScorecardFilters
from tandem.analytics.tests.fixtures import at
from tandem.crm.models import Opportunity, OpportunityStageChange
from tandem.crm.tests.factories import make_account, make_opportunity

pytestmark = pytest.mark.django_db
MARCH = {day: dt.date(2026, 3, day) for day in range(1, 10)}


@pytest.fixture
def history(cast):
    account = make_account(name="Alpha", domain="alpha.example")
    deals = {}
    for name, stage, amount in [("OA", "closed_won", 1200), ("OB", "negotiation", 4000), ("OC", "discovery", 2000)]:
        deals[name] = make_opportunity(account, name=name, stage=stage, amount=str(amount))
    OpportunityStageChange.objects.all().delete()
    Opportunity.objects.update(owner=cast.ae)
    Opportunity.objects.filter(name="OC").update(created_at=at(2026, 3, 4))
    moves = [
        ("OA", "discovery", 1000, 1),
        ("OA", "proposal", 1200, 3),
        ("OA", "qualification", 1200, 5),
        ("OA", "closed_won", 1200, 7),
        ("OB", "negotiation", 5000, 2),
        ("OB", "closed_lost", 5000, 4),
        ("OB", "negotiation", 4000, 6),
    ]
    for name, stage, amount, day in moves:
        OpportunityStageChange.objects.create(
            opportunity=deals[name], to_stage_id=stage, amount=amount, at=at(2026, 3, day), actor_type="system"
        )
    return deals


def snapshot(day) -> list[tuple]:
    return [
        (row.stage_id, row.forecast_category, row.count, float(row.amount), float(row.weighted_amount))
        for row in PipelineSnapshot.objects.filter(as_of=day).order_by("stage__position")
    ]


EXPECTED = {
    MARCH[1]: [],
    MARCH[2]: [("discovery", "pipeline", 1, 1000.0, 100.0)],
    MARCH[3]: [("discovery", "pipeline", 1, 1000.0, 100.0), ("negotiation", "commit", 1, 5000.0, 4000.0)],
    MARCH[4]: [("proposal", "best_case", 1, 1200.0, 720.0), ("negotiation", "commit", 1, 5000.0, 4000.0)],
    MARCH[5]: [("discovery", "pipeline", 1, 2000.0, 200.0), ("proposal", "best_case", 1, 1200.0, 720.0)],
    MARCH[6]: [("discovery", "pipeline", 1, 2000.0, 200.0), ("qualification", "pipeline", 1, 1200.0, 240.0)],
    MARCH[7]: [
        ("discovery", "pipeline", 1, 2000.0, 200.0),
        ("qualification", "pipeline", 1, 1200.0, 240.0),
        ("negotiation", "commit", 1, 4000.0, 3200.0),
    ],
    MARCH[8]: [("discovery", "pipeline", 1, 2000.0, 200.0), ("negotiation", "commit", 1, 4000.0, 3200.0)],
}


def test_past_days_are_rebuilt_from_stage_history_up_to_the_first_daily_snapshot(history):
    services.pipeline_snapshot_take(as_of=MARCH[9])  # the first snapshot taken on its day
    taken = snapshot(MARCH[9])
    assert services.pipeline_snapshots_rebuild() == 8  # March 1 to 8
    for day, expected in EXPECTED.items():
        assert snapshot(day) == expected, day
    assert snapshot(MARCH[9]) == taken  # a snapshot taken on its day is never replaced
    assert not PipelineSnapshot.objects.filter(as_of=MARCH[9], is_rebuilt=True).exists()


def test_the_rebuild_is_idempotent_and_pipeline_as_of_reads_it(history, cast):
    services.pipeline_snapshot_take(as_of=MARCH[9])
    services.pipeline_snapshots_rebuild()
    first = sorted(PipelineSnapshot.objects.values_list("as_of", "stage_id", "owner_id", "count", "amount"))
    assert services.pipeline_snapshots_rebuild() == 8
    assert sorted(PipelineSnapshot.objects.values_list("as_of", "stage_id", "owner_id", "count", "amount")) == first
    cells, day = selectors.pipeline(ScorecardFilters(), MARCH[6])
    assert day == MARCH[6]
    assert [(cell.stage, cell.count, cell.amount, cell.weighted_amount) for cell in cells] == [
        ("discovery", 1, 2000.0, 200.0),
        ("qualification", 1, 1200.0, 240.0),
    ]
    mine, _ = selectors.pipeline(ScorecardFilters(owner_id=cast.ae.pk), MARCH[7])
    assert sum(cell.count for cell in mine) == 3
    others, _ = selectors.pipeline(ScorecardFilters(owner_id=cast.sdr.pk), MARCH[7])
    assert others == []


def test_the_command_and_the_task_rebuild_a_chosen_range(history):
    out = StringIO()
    call_command("scorecard", "pipeline-history", "--from", "2026-03-04", "--until", "2026-03-05", stdout=out)
    assert "2 days" in out.getvalue()
    days = PipelineSnapshot.objects.order_by("as_of").values_list("as_of", flat=True).distinct()
    assert list(days) == [MARCH[4], MARCH[5]]
    assert snapshot(MARCH[5]) == EXPECTED[MARCH[5]]
    assert tasks.pipeline_history_rebuild.call_local(start="2026-03-02", until="2026-03-08") == 7
    for day in range(2, 9):
        assert snapshot(MARCH[day]) == EXPECTED[MARCH[day]]
