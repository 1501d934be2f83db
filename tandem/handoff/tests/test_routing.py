"""Routing MQLs to reps: weights, territories, owners first, caps, time off, the team queue, reassignment."""

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError

from tandem.crm.models import Person
from tandem.handoff import services
from tandem.handoff.models import (
    Handoff,
    HandoffStatus,
    LedgerKind,
    Notification,
    RoutingBalance,
    RoutingLedgerEntry,
    TimeOff,
)
from tandem.handoff.routing import OWNER_POOL
from tandem.handoff.tests.factories import MONDAY_9, make_company, make_mql, make_rep, use_routing
from tandem.users.models import Role
from tandem.users.tests.factories import TeamFactory

pytestmark = pytest.mark.django_db


def _route(*people, at=MONDAY_9):
    return services.handoffs_route(person_ids=[person.pk for person in people], at=at)


def _assignees(handoffs):
    return [handoff.assignee.email if handoff.assignee_id else None for handoff in handoffs]


@time_machine.travel(MONDAY_9, tick=False)
def test_weighted_round_robin_gives_each_rep_their_share_and_keeps_the_ledger(cast):
    heavy = make_rep("heavy@example.com", cast.teams.sales)
    use_routing(
        {
            "owner_first": True,
            "rules": [
                {
                    "name": "Inbound",
                    "team": "Sales",
                    "reps": [{"email": "heavy@example.com", "weight": 3}, {"email": "sam@example.com", "weight": 1}],
                }
            ],
        }
    )
    people = [make_mql(f"lead{index}@prospect.test") for index in range(8)]
    handoffs = _route(*people)
    assert _assignees(handoffs) == [
        "heavy@example.com",
        "heavy@example.com",
        "sam@example.com",
        "heavy@example.com",
        "heavy@example.com",
        "heavy@example.com",
        "sam@example.com",
        "heavy@example.com",
    ]
    balances = {row.user.email: (row.assigned, round(row.expected, 6)) for row in RoutingBalance.objects.all()}
    assert balances == {"heavy@example.com": (6, 6.0), "sam@example.com": (2, 2.0)}
    assert RoutingLedgerEntry.objects.filter(kind=LedgerKind.ROUTED).count() == 8
    expected = RoutingLedgerEntry.objects.filter(kind=LedgerKind.EXPECTED).order_by("user_id")
    assert [(line.user, line.expected, line.reason) for line in expected] == [
        (cast.sdr, 2.0, "Share by weight of 8 routing decisions"),
        (heavy, 6.0, "Share by weight of 8 routing decisions"),
    ]
    assert Person.objects.get(pk=people[0].pk).owner == heavy
    assert handoffs[0].status == HandoffStatus.PENDING and handoffs[0].routed_at == MONDAY_9
    assert handoffs[0].routing_rule == "Inbound"


@time_machine.travel(MONDAY_9, tick=False)
def test_routing_twice_makes_one_handoff(cast):
    use_routing({"rules": [{"name": "All", "team": "Sales"}]})
    person = make_mql("once@prospect.test")
    first = _route(person)
    assert _route(person) == []
    assert Handoff.objects.filter(person=person).count() == 1
    assert first[0].assignee in (cast.sdr, cast.ae)


@time_machine.travel(MONDAY_9, tick=False)
def test_territory_rules_send_each_lead_to_its_region_and_size(cast):
    emea = TeamFactory(name="Sales EMEA")
    sofia = make_rep("sofia@example.com", emea, role=Role.AE)
    use_routing(
        {
            "rules": [
                {
                    "name": "EMEA enterprise",
                    "when": 'account.region == "EMEA" and account.employee_count >= 1000',
                    "team": "Sales EMEA",
                },
                {
                    "name": "German software",
                    "when": 'account.country == "DE" and account.industry == "Software"',
                    "team": "Sales",
                    "reps": [{"email": "erin@example.com"}],
                },
                {"name": "Everyone else", "team": "Sales", "reps": [{"email": "sam@example.com"}]},
            ]
        }
    )
    big = make_company("Big Bank", region="EMEA", employee_count=5000, country="FR", industry="Financial services")
    german = make_company("Kleine Soft", region="EMEA", employee_count=80, country="DE", industry="Software")
    small = make_company("Tiny", region="North America", employee_count=20, country="US")
    handoffs = _route(
        make_mql("ceo@bigbank.test", account=big),
        make_mql("cto@kleinesoft.test", account=german),
        make_mql("ops@tiny.test", account=small),
        make_mql("nobody@nowhere.test"),
    )
    assert [h.assignee for h in handoffs] == [sofia, cast.ae, cast.sdr, cast.sdr]
    assert [h.routing_rule for h in handoffs] == [
        "EMEA enterprise",
        "German software",
        "Everyone else",
        "Everyone else",
    ]
    assert handoffs[0].team.name == "Sales EMEA"
    assert handoffs[0].routing_reason == (
        "Weighted round robin among 1 available reps; rule 'EMEA enterprise' "
        '(account.region "EMEA" = "EMEA" and account.employee_count 5000 >= 1000).'
    )


@time_machine.travel(MONDAY_9, tick=False)
def test_the_existing_owner_gets_the_lead_first_and_it_does_not_count_against_fairness(cast):
    use_routing({"rules": [{"name": "All", "team": "Sales"}]})
    account = make_company("Owned Co", owner=cast.ae)
    people = [make_mql(f"p{index}@ownedco.test", account=account) for index in range(3)]
    handoffs = _route(*people)
    assert [h.assignee for h in handoffs] == [cast.ae, cast.ae, cast.ae]
    assert {h.routing_rule for h in handoffs} == {OWNER_POOL}
    owner_balance = RoutingBalance.objects.get(pool=OWNER_POOL, user=cast.ae)
    assert (owner_balance.assigned, owner_balance.expected) == (3, 3.0)
    assert not RoutingBalance.objects.filter(pool="All").exists()
    # A person's own owner comes before their account's.
    mine = make_mql("mine@ownedco.test", account=account, owner=cast.sdr)
    assert _route(mine)[0].assignee == cast.sdr


@time_machine.travel(MONDAY_9, tick=False)
def test_a_rep_at_their_daily_cap_is_skipped_until_the_next_day(cast):
    use_routing(
        {
            "daily_cap": 5,
            "rules": [
                {
                    "name": "All",
                    "team": "Sales",
                    "reps": [{"email": "sam@example.com", "daily_cap": 1}, {"email": "erin@example.com"}],
                }
            ],
        }
    )
    handoffs = _route(*[make_mql(f"cap{index}@prospect.test") for index in range(7)])
    assert _assignees(handoffs) == ["sam@example.com"] + ["erin@example.com"] * 5 + [None]
    assert handoffs[-1].status == HandoffStatus.QUEUED and handoffs[-1].team == cast.teams.sales
    assert handoffs[-1].routing_reason == ("Queued: rule 'All' matched but every rep is at their daily cap.")
    # The next morning the queue drains to the rep the pool owes most: Erin (expected 6, had 5).
    with time_machine.travel(MONDAY_9 + dt.timedelta(days=1), tick=False):
        assert services.handoffs_route_queued() == 1
    handoffs[-1].refresh_from_db()
    assert handoffs[-1].assignee == cast.ae and handoffs[-1].status == HandoffStatus.PENDING


@time_machine.travel(MONDAY_9, tick=False)
def test_a_rep_out_of_office_is_skipped_and_neither_owed_nor_charged(cast):
    use_routing({"rules": [{"name": "All", "team": "Sales"}]})
    services.time_off_create(
        user=cast.sdr, starts_at=MONDAY_9 - dt.timedelta(hours=1), ends_at=MONDAY_9 + dt.timedelta(days=2), by=cast.sdr
    )
    handoffs = _route(*[make_mql(f"ooo{index}@prospect.test") for index in range(3)])
    assert [h.assignee for h in handoffs] == [cast.ae] * 3
    assert not RoutingBalance.objects.filter(user=cast.sdr).exists()
    ae = RoutingBalance.objects.get(user=cast.ae)
    assert (ae.assigned, ae.expected) == (3, 3.0)


@time_machine.travel(MONDAY_9, tick=False)
def test_all_reps_away_the_lead_waits_in_the_team_queue_and_the_manager_is_told_once(cast):
    use_routing({"rules": [{"name": "All", "team": "Sales"}]})
    for rep in (cast.sdr, cast.ae):
        TimeOff.objects.create(
            user=rep, starts_at=MONDAY_9, ends_at=MONDAY_9 + dt.timedelta(days=1), created_at=MONDAY_9
        )
    person = make_mql("waiting@prospect.test")
    (handoff,) = _route(person)
    assert handoff.status == HandoffStatus.QUEUED
    assert handoff.assignee is None and handoff.team == cast.teams.sales
    assert handoff.routing_reason == "Queued: rule 'All' matched but every rep is out of office."
    notices = list(Notification.objects.all())
    assert [(n.user, n.kind) for n in notices] == [(cast.sales_manager, "handoff_queued")]
    assert notices[0].link == f"/handoff/{handoff.pk}/"
    assert _route(person) == []
    assert services.handoffs_route_queued() == 0
    assert Notification.objects.count() == 1
    assert Person.objects.get(pk=person.pk).owner is None


@time_machine.travel(MONDAY_9, tick=False)
def test_fairness_survives_a_rep_changing_teams(cast):
    other = TeamFactory(name="Sales West")
    use_routing(
        {
            "rules": [
                {
                    "name": "Inbound",
                    "team": "Sales",
                    "reps": [{"email": "sam@example.com"}, {"email": "erin@example.com"}],
                }
            ]
        }
    )
    _route(*[make_mql(f"a{index}@prospect.test") for index in range(3)])
    cast.sdr.team = other
    cast.sdr.save()
    handoffs = _route(*[make_mql(f"b{index}@prospect.test") for index in range(3)])
    balances = {row.user.email: (row.assigned, row.expected) for row in RoutingBalance.objects.filter(pool="Inbound")}
    assert balances == {"sam@example.com": (3, 3.0), "erin@example.com": (3, 3.0)}
    # The rep who had one lead fewer after the first three gets the first of the next three.
    assert _assignees(handoffs)[0] == "erin@example.com"


@time_machine.travel(MONDAY_9, tick=False)
def test_manual_reassignment_is_recorded_and_moves_the_lead_between_balances(cast):
    use_routing({"rules": [{"name": "Inbound", "team": "Sales", "reps": [{"email": "sam@example.com"}]}]})
    (handoff,) = _route(make_mql("move@prospect.test"))
    assert handoff.assignee == cast.sdr
    services.handoff_reassign(handoff=handoff, by=cast.sales_manager, to_user=cast.ae, reason="Erin knows them")
    handoff.refresh_from_db()
    assert handoff.assignee == cast.ae and handoff.person.owner == cast.ae
    lines = list(RoutingLedgerEntry.objects.filter(kind__startswith="reassigned").order_by("assigned"))
    assert [(line.user, line.kind, line.assigned, line.by, line.reason) for line in lines] == [
        (cast.sdr, "reassigned_out", -1, cast.sales_manager, "Erin knows them"),
        (cast.ae, "reassigned_in", 1, cast.sales_manager, "Erin knows them"),
    ]
    balances = {row.user: (row.assigned, row.expected) for row in RoutingBalance.objects.filter(pool="Inbound")}
    assert balances == {cast.sdr: (0, 1.0), cast.ae: (1, 0.0)}
    assert Notification.objects.filter(user=cast.ae, kind="handoff_assigned").count() == 1


@time_machine.travel(MONDAY_9, tick=False)
def test_a_rep_may_not_reassign_and_nothing_changes(cast):
    use_routing({"rules": [{"name": "Inbound", "team": "Sales", "reps": [{"email": "sam@example.com"}]}]})
    (handoff,) = _route(make_mql("stay@prospect.test"))
    with pytest.raises(PermissionDenied):
        services.handoff_reassign(handoff=handoff, by=cast.sdr, to_user=cast.ae)
    handoff.refresh_from_db()
    assert handoff.assignee == cast.sdr
    assert not RoutingLedgerEntry.objects.filter(kind__startswith="reassigned").exists()


@time_machine.travel(MONDAY_9, tick=False)
def test_reassigning_without_a_rep_lets_routing_choose_another_one(cast):
    use_routing({"rules": [{"name": "All", "team": "Sales"}]})
    (handoff,) = _route(make_mql("next@prospect.test"))
    first = handoff.assignee
    services.handoff_reassign(handoff=handoff, by=cast.revops)
    handoff.refresh_from_db()
    assert handoff.assignee != first and handoff.assignee in (cast.sdr, cast.ae)
    with pytest.raises(ValidationError) as error:
        services.time_off_create(
            user=handoff.assignee, starts_at=MONDAY_9, ends_at=MONDAY_9 - dt.timedelta(hours=1), by=cast.revops
        )
    assert "ends_at" in error.value.message_dict


def test_a_new_mql_is_routed_when_the_move_commits(cast, django_capture_on_commit_callbacks):
    use_routing({"rules": [{"name": "Inbound", "team": "Sales", "reps": [{"email": "erin@example.com"}]}]})
    with django_capture_on_commit_callbacks(execute=True):
        person = make_mql("commit@prospect.test")
    handoff = Handoff.objects.get(person=person)
    assert handoff.assignee == cast.ae
    assert handoff.mql_stage_change.to_stage_id == "mql"


def test_the_contract_refuses_a_bad_routing_section_at_its_path():
    from tandem.contract.document import check_document, default_source, parse_source

    document, problems = parse_source(default_source())
    assert problems == []
    document["routing"] = {
        "daily_cap": 0,
        "rules": [
            {"name": "A", "team": "Sales", "when": "account.size > 3"},
            {"name": "A", "reps": [{"email": "nobody", "weight": -1}]},
        ],
    }
    found = [(problem.path, problem.message) for problem in check_document(document)]
    assert ("routing.daily_cap", "expected a whole number from 1 to 10000, got 0.") in found
    assert ("routing.rules[1].name", "'A' is already used; rule names must be unique.") in found
    assert (
        "routing.rules[1].team",
        "is required: the name of the team whose queue holds this rule's leads.",
    ) in found
    assert ("routing.rules[1].reps[0].email", "expected the email address of a user, got 'nobody'.") in found
    assert ("routing.rules[1].reps[0].weight", "expected a number above 0 and at most 100, got -1.") in found
    assert any(path == "routing.rules[0].when" for path, _ in found)
    assert len(found) == 6


@time_machine.travel(MONDAY_9, tick=False)
def test_the_periodic_sweep_routes_mqls_missed_while_the_worker_was_down(cast):
    from tandem.handoff.tasks import handoff_queue_drain, handoff_route

    use_routing({"rules": [{"name": "Inbound", "team": "Sales", "reps": [{"email": "sam@example.com"}]}]})
    missed = [make_mql(f"missed{index}@prospect.test") for index in range(3)]
    old = make_mql("old@prospect.test")
    Person.objects.filter(pk=old.pk).update(stage_entered_at=MONDAY_9 - dt.timedelta(days=2))
    assert handoff_queue_drain.call_local() == 3
    assert sorted(Handoff.objects.values_list("person_id", flat=True)) == [person.pk for person in missed]
    assert handoff_queue_drain.call_local() == 0
    # A routing task of one new MQL also routes the others of the last day still waiting.
    late = [make_mql(f"late{index}@prospect.test") for index in range(2)]
    assert handoff_route.call_local(late[0].pk) == 2
    assert Handoff.objects.filter(person__in=late, assignee=cast.sdr).count() == 2
