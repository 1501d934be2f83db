"""A small hand-computed company for the KPI tests (period: Q1 2026).

People (stage history):
  P1 lead Jan 2 → mql Jan 5 → sal Jan 7 → sql Jan 15 → opportunity Feb 1 → customer Mar 1   (owner Erin)
  P2 mql Jan 10 → recycled Jan 20 → mql Feb 10 → sal Feb 11 → sql Feb 20                   (owner Erin)
  P3 mql Feb 1 → sql Feb 4 (skips SAL)
  P4 mql Mar 1 → disqualified Mar 5
  P5 sql 2025-11-01 → customer 2025-12-01 → churned Jan 15 (not in any Q1 cohort)
  P6 mql 2025-12-20 → sql Jan 2 (previous quarter's cohort)
  P7 lead Jan 3 → customer Mar 20 (skips everything between)
  P8 lead Feb 1 → mql Feb 2 → recycled Feb 10 → lead Feb 12

Q1 by hand: MQLs 5 (P1, P2 once, P3, P4, P8); MQL → SQL 3 of 5 (P1 10 days, P2 41 days from the first
entry, P3 3 days by skipping): median 10, p75 25.5. Funnel from Lead: P1, P7, P8 = 3 → MQL 3 → SAL 2 →
SQL 2 → Opportunity 2 → Customer 2 → Evangelist 0.

Deals: O0 won 500 2025-06-01 (A2), O1 won 1000 Jan 15 (A1, new customer), O2 won 3000 Feb 15 (A2, not
new), O3 lost 4000 Mar 1, O4 lost 1000 Apr 2 (Q2), O5 open 10,000 at 50% closing Mar 15, O6 open 4,000
closing May 1. Q1: win rate 2/3 by count, 0.5 by value; won 4000 vs target 12,000; coverage
5000 / 8000 = 0.625; CLV (to Mar 31) 4500 / 2 customers = 2250.
Campaigns: C1 9000 over Jan 1–Mar 31; C2 1000 over Dec 1–Jan 30 (30 of 61 days in Q1). CAC = (9000 +
1000 × 30/61) / 1 new customer.
Hand-offs: H1 made Jan 6, accepted Jan 8, SLA met; H2 made Jan 11, rejected Jan 21, breached; H3 made
Feb 11, accepted Feb 12, met; H4 made Mar 2, pending, clock running; H5 accepted 2025-12-30.
Q1: acceptance 2/3 with 1 pending; SLA compliance 2/3.
"""

import datetime as dt
from types import SimpleNamespace

from django.utils import timezone

from tandem.analytics import services
from tandem.audit.actors import Actor
from tandem.campaigns.models import Campaign
from tandem.crm.models import Opportunity, StageChange
from tandem.crm.tests.factories import make_account, make_opportunity, make_person
from tandem.handoff.models import Handoff, MqlGoal

SYSTEM = Actor.system("tests")


def at(year, month, day, hour=12) -> dt.datetime:
    return timezone.make_aware(dt.datetime(year, month, day, hour))


def _history(person, moves):
    StageChange.objects.filter(person=person).delete()
    previous = None
    for stage, moment in moves:
        StageChange.objects.create(
            person=person,
            from_stage_id=previous,
            to_stage_id=stage,
            at=moment,
            actor_type="system",
            actor_label="tests",
        )
        previous = stage


def _deal(account, name, stage, amount, close, probability=None):
    fields = {"probability": probability} if probability is not None else {}
    deal = make_opportunity(account, name=name, stage=stage, amount=str(amount), close_date=close, **fields)
    return Opportunity.objects.get(pk=deal.pk)


def build_company(cast) -> SimpleNamespace:
    people = SimpleNamespace()
    histories = {
        "p1": [
            ("lead", at(2026, 1, 2)),
            ("mql", at(2026, 1, 5)),
            ("sal", at(2026, 1, 7)),
            ("sql", at(2026, 1, 15)),
            ("opportunity", at(2026, 2, 1)),
            ("customer", at(2026, 3, 1)),
        ],
        "p2": [
            ("mql", at(2026, 1, 10)),
            ("recycled", at(2026, 1, 20)),
            ("mql", at(2026, 2, 10)),
            ("sal", at(2026, 2, 11)),
            ("sql", at(2026, 2, 20)),
        ],
        "p3": [("mql", at(2026, 2, 1)), ("sql", at(2026, 2, 4))],
        "p4": [("mql", at(2026, 3, 1)), ("disqualified", at(2026, 3, 5))],
        "p5": [("sql", at(2025, 11, 1)), ("customer", at(2025, 12, 1)), ("churned", at(2026, 1, 15))],
        "p6": [("mql", at(2025, 12, 20)), ("sql", at(2026, 1, 2))],
        "p7": [("lead", at(2026, 1, 3)), ("customer", at(2026, 3, 20))],
        "p8": [
            ("lead", at(2026, 2, 1)),
            ("mql", at(2026, 2, 2)),
            ("recycled", at(2026, 2, 10)),
            ("lead", at(2026, 2, 12)),
        ],
    }
    a1 = make_account(name="Alpha", domain="alpha.example", industry="Software", region="EMEA")
    a2 = make_account(name="Beta", domain="beta.example", industry="Retail", region="Americas")
    for key, moves in histories.items():
        owner = cast.ae if key in ("p1", "p2") else None
        person = make_person(
            email=f"{key}@alpha.example" if key in ("p1", "p2") else f"{key}@beta.example", owner=owner
        )
        _history(person, moves)
        setattr(people, key, person)
    deals = SimpleNamespace(
        o0=_deal(a2, "O0", "closed_won", 500, dt.date(2025, 6, 1)),
        o1=_deal(a1, "O1", "closed_won", 1000, dt.date(2026, 1, 15)),
        o2=_deal(a2, "O2", "closed_won", 3000, dt.date(2026, 2, 15)),
        o3=_deal(a1, "O3", "closed_lost", 4000, dt.date(2026, 3, 1)),
        o4=_deal(a1, "O4", "closed_lost", 1000, dt.date(2026, 4, 2)),
        o5=_deal(a1, "O5", "proposal", 10000, dt.date(2026, 3, 15), probability=50),
        o6=_deal(a2, "O6", "discovery", 4000, dt.date(2026, 5, 1), probability=25),
    )
    now = timezone.now()
    Campaign.objects.create(
        name="C1",
        channel="events",
        cost=9000,
        start_date=dt.date(2026, 1, 1),
        end_date=dt.date(2026, 3, 31),
        created_at=now,
        updated_at=now,
    )
    Campaign.objects.create(
        name="C2",
        channel="paid_search",
        cost=1000,
        start_date=dt.date(2025, 12, 1),
        end_date=dt.date(2026, 1, 30),
        created_at=now,
        updated_at=now,
    )

    def handoff(person, made, status, sla, decided=None):
        fields = (
            {"accepted_at": decided}
            if status == "accepted"
            else {"rejected_at": decided}
            if status == "rejected"
            else {}
        )
        return Handoff.objects.create(
            person=person, assignee=cast.sdr, status=status, sla_status=sla, created_at=made, **fields
        )

    handoff(people.p1, at(2026, 1, 6), "accepted", "met", at(2026, 1, 8))
    handoff(people.p2, at(2026, 1, 11), "rejected", "breached", at(2026, 1, 21))
    handoff(people.p3, at(2026, 2, 11), "accepted", "met", at(2026, 2, 12))
    handoff(people.p4, at(2026, 3, 2), "pending", "pending")
    handoff(people.p6, at(2025, 12, 21), "accepted", "met", at(2025, 12, 30))
    for month in (1, 2, 3):
        MqlGoal.objects.create(
            period_start=dt.date(2026, month, 1),
            period_end=dt.date(2026, month + 1, 1) - dt.timedelta(days=1),
            target=2,
            created_at=now,
        )
    services.revenue_target_set(
        period_start=dt.date(2026, 1, 1), period_end=dt.date(2026, 3, 31), amount=12000, by=cast.revops
    )
    return SimpleNamespace(people=people, deals=deals, accounts=SimpleNamespace(a1=a1, a2=a2))


def queued_snapshot_fills() -> list:
    """The snapshot tasks pages queued (in the in-memory queue of immediate mode), not run yet."""
    from huey.contrib.djhuey import HUEY

    return [task for task in HUEY.scheduled() if task.name == "scorecard_snapshots_fill"]


def run_queued_snapshot_fills() -> None:
    """Run them as the worker would, and empty the queue."""
    from huey.contrib.djhuey import HUEY

    from tandem.analytics import tasks

    for task in queued_snapshot_fills():
        tasks.scorecard_snapshots_fill.call_local(*task.args, **task.kwargs)
    HUEY.flush()
