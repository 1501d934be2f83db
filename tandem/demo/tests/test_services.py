import datetime as dt
from collections import defaultdict
from functools import partial

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.models import Max

from tandem.audit.models import AuditEntry
from tandem.campaigns.models import Campaign, CampaignMember, CampaignType, Channel, MemberStatus
from tandem.crm.defaults import FREE_MAIL_DOMAINS, default_transitions
from tandem.crm.models import (
    Account,
    AccountDomain,
    Activity,
    Opportunity,
    OpportunityStageChange,
    Person,
    StageChange,
)
from tandem.crm.tests.factories import make_person
from tandem.demo import services
from tandem.demo.services import DEMO_PASSWORD, DemoRefusedError, demo_generate
from tandem.engagement.models import Touchpoint, TouchpointType
from tandem.lib.bulk_insert import BulkInserter
from tandem.users.models import Role, User

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
SMALL = {"people": 300, "accounts": 30, "now": NOW}


@pytest.fixture
def demo():
    return demo_generate(seed=7, **SMALL)


def _histories() -> dict[int, list[StageChange]]:
    histories = defaultdict(list)
    for change in StageChange.objects.filter(person__isnull=False).order_by("person_id", "at", "id"):
        histories[change.person_id].append(change)
    return histories


def _fingerprint() -> list[tuple]:
    """What two loads with the same seed must agree on: people, their paths and their deals."""
    histories = _histories()
    people = [
        (
            person.email,
            person.first_name,
            person.last_name,
            person.account.domain if person.account else None,
            person.owner.email if person.owner else None,
            person.fit_score,
            person.engagement_score,
            person.last_activity_at,
            tuple((c.from_stage_id, c.to_stage_id, c.at, c.reason) for c in histories[person.pk]),
        )
        for person in Person.objects.select_related("account", "owner").order_by("email")
    ]
    deals = list(
        Opportunity.objects.order_by("name", "created_at").values_list(
            "name", "amount", "stage_id", "close_date", "lost_reason"
        )
    )
    touches = list(
        Touchpoint.objects.order_by("person__email", "occurred_at", "type").values_list(
            "person__email", "type", "occurred_at", "campaign__name"
        )
    )
    return [people, deals, touches]


def test_it_loads_the_requested_numbers_of_records(demo):
    assert Person.objects.count() == demo["people"] == 300
    assert Account.objects.count() == demo["accounts"] == 30
    assert Campaign.objects.count() == demo["campaigns"] == 25
    assert StageChange.objects.count() == demo["stage_changes"] > 300
    assert Touchpoint.objects.count() == demo["touchpoints"]
    assert 7 <= demo["touchpoints"] / 300 <= 13
    assert CampaignMember.objects.count() == demo["campaign_members"] > 0
    assert Activity.objects.count() == demo["activities"] > 0
    assert Opportunity.objects.count() == demo["opportunities"] > 0
    assert OpportunityStageChange.objects.count() == demo["opportunity_stage_changes"]


def test_campaigns_and_touchpoints_use_the_shared_channel_and_type_lists(demo):
    assert set(Campaign.objects.values_list("channel", flat=True)) <= set(Channel.values)
    assert set(Campaign.objects.values_list("type", flat=True)) == set(CampaignType.values)
    assert set(Touchpoint.objects.values_list("channel", flat=True)) <= set(Channel.values)
    assert set(Touchpoint.objects.values_list("type", flat=True)) <= set(TouchpointType.values)
    assert set(CampaignMember.objects.values_list("status", flat=True)) <= set(MemberStatus.values)
    webinar = Campaign.objects.filter(type=CampaignType.WEBINAR).order_by("start_date").first()
    assert webinar.start_date < NOW.date()
    assert webinar.members.filter(status=MemberStatus.ATTENDED).exists()


def test_it_creates_the_two_teams_revops_and_leadership_who_can_sign_in(demo):
    roles = defaultdict(int)
    for user in User.objects.all():
        roles[user.role] += 1
        assert user.email.endswith("@demo.tandem.test")
        assert user.check_password(DEMO_PASSWORD)
    assert dict(roles) == {
        Role.MARKETING_MANAGER: 1,
        Role.MARKETING: 3,
        Role.SALES_MANAGER: 1,
        Role.SDR: 4,
        Role.AE: 4,
        Role.REVOPS: 1,
        Role.LEADERSHIP: 1,
    }
    assert User.objects.get(email="maya.marketing@demo.tandem.test").team.name == "Marketing"
    assert User.objects.get(email="sam.sales-manager@demo.tandem.test").managed_teams.get().name == "Sales"


def test_same_seed_gives_identical_data_and_another_seed_does_not():
    runs = []
    for seed in (42, 42, 43):
        with transaction.atomic():  # each run starts from the same empty database
            demo_generate(seed=seed, **SMALL)
            runs.append(_fingerprint())
            transaction.set_rollback(True)
    assert Person.objects.count() == 0
    assert runs[0] == runs[1]
    assert runs[0][0] != runs[2][0]


def test_every_stage_change_is_an_allowed_transition_and_histories_are_unbroken(demo):
    allowed = {(from_stage, to_stage) for from_stage, to_stage, _ in default_transitions()}
    histories = _histories()
    assert len(histories) == 300
    for history in histories.values():
        assert history[0].from_stage_id is None
        for previous, change in zip(history, history[1:], strict=False):
            assert change.from_stage_id == previous.to_stage_id
            assert (change.from_stage_id, change.to_stage_id) in allowed
            assert change.at > previous.at
    assert not StageChange.objects.filter(at__gte=NOW).exists()


def test_history_includes_recycles_reopens_disqualifications_and_skipped_stages(demo):
    moves = set(StageChange.objects.values_list("from_stage_id", "to_stage_id").distinct())
    assert {("mql", "recycled"), ("recycled", "mql"), ("sal", "disqualified"), ("opportunity", "customer")} <= moves
    assert moves & {("lead", "sal"), ("lead", "sql"), ("mql", "sql"), ("subscriber", "mql")}
    assert StageChange.objects.filter(to_stage="recycled", reason__startswith="Opportunity lost").exists()


def test_each_change_names_its_actor_and_reason_and_rules_cite_their_evidence(demo):
    assert set(StageChange.objects.values_list("actor_type", flat=True)) >= {"user", "rule"}
    assert not StageChange.objects.filter(reason="").exists()
    assert not StageChange.objects.filter(actor_type="user", actor_user__isnull=True).exists()
    mql_rules = StageChange.objects.filter(to_stage="mql", actor_type="rule")
    assert mql_rules.exists()
    for change in mql_rules:
        evidence = change.evidence
        assert evidence["fit"] >= evidence["threshold"]
        assert evidence["engagement"] >= evidence["engagement_threshold"]
        assert change.contract_version in (1, 2, 3)
        assert f"contract v{change.contract_version}" in change.reason


def test_each_person_is_in_the_stage_their_history_ends_in_with_a_matching_lead_status(demo):
    histories = _histories()
    statuses = {
        "subscriber": {None},
        "lead": {"new"},
        "mql": {"new"},
        "sal": {"attempting", "connected"},
        "sql": {"qualified"},
        "opportunity": {"qualified"},
        "recycled": {"bad_timing"},
        "disqualified": {"unqualified"},
    }
    for person in Person.objects.all():
        last = histories[person.pk][-1]
        assert person.lifecycle_stage_id == last.to_stage_id
        assert person.stage_entered_at == last.at
        assert person.created_at == histories[person.pk][0].at
        if person.lifecycle_stage_id in statuses:
            assert person.lead_status_id in statuses[person.lifecycle_stage_id]


def test_people_at_account_domains_belong_to_that_account_and_free_mail_people_to_none(demo):
    domains = dict(AccountDomain.objects.values_list("domain", "account_id"))
    at_accounts = 0
    for email, account_id in Person.objects.values_list("email", "account_id"):
        domain = email.rsplit("@", 1)[1]
        assert domain.endswith(".example")  # never a deliverable address
        assert domain not in FREE_MAIL_DOMAINS
        assert domains.get(domain) == account_id
        at_accounts += account_id is not None
    assert at_accounts == 210  # 70%
    assert Account.objects.filter(owner__role=Role.AE).count() >= 25


def test_last_activity_is_the_latest_touchpoint_or_activity(demo):
    latest = defaultdict(lambda: dt.datetime.min.replace(tzinfo=dt.UTC))
    for rows in (
        Touchpoint.objects.values_list("person_id").annotate(at=Max("occurred_at")),
        Activity.objects.values_list("person_id").annotate(at=Max("occurred_at")),
    ):
        for person_id, at in rows:
            latest[person_id] = max(latest[person_id], at)
    for person in Person.objects.all():
        assert person.last_activity_at == max(person.created_at, latest[person.pk])
        assert person.last_activity_at < NOW


def test_opportunities_are_won_and_lost_with_consistent_history(demo):
    won = Opportunity.objects.filter(is_won=True)
    lost = Opportunity.objects.filter(is_closed=True, is_won=False)
    assert won.exists() and lost.exists()
    assert not lost.filter(lost_reason="").exists()
    assert not won.exclude(lost_reason="").exists()
    for opportunity in Opportunity.objects.all():
        assert 5_000 <= opportunity.amount <= 250_000
        assert opportunity.owner.role == Role.AE
        history = list(opportunity.stage_changes.order_by("at", "id"))
        assert history[0].from_stage_id is None
        assert history[-1].to_stage_id == opportunity.stage_id
        assert history[-1].amount == opportunity.amount
        if opportunity.is_closed:
            assert opportunity.closed_at == history[-1].at
            assert opportunity.close_date == opportunity.closed_at.date()
        else:
            assert opportunity.close_date > NOW.date()
    customers = StageChange.objects.filter(to_stage="customer")
    assert customers.exists()
    for change in customers:
        assert Opportunity.objects.get(pk=change.evidence["opportunity_id"]).is_won


def test_it_writes_one_audit_entry_for_the_load(demo):
    entry = AuditEntry.objects.get()
    assert entry.action == "demo_load"
    assert entry.after["people"] == 300
    assert "300 people" in entry.summary


def test_it_refuses_a_database_that_already_holds_people():
    make_person(email="real@customer.example")
    audit_entries = AuditEntry.objects.count()
    with pytest.raises(DemoRefusedError, match="already holds 1 people"):
        demo_generate(**SMALL)
    assert Person.objects.count() == 1
    assert Account.objects.count() == 0
    assert AuditEntry.objects.count() == audit_entries


def test_the_command_prints_the_summary_and_the_sign_ins(capsys):
    call_command("demo", "--seed", "3", "--people", "50", "--accounts", "5", "--touchpoints-per-person", "2")
    output = capsys.readouterr().out
    assert "Generating people: 50/50" in output
    assert "Demo data loaded" in output
    assert "maya.marketing@demo.tandem.test" in output
    assert "password: tandem-demo" in output
    assert Person.objects.count() == 50
    with pytest.raises(CommandError, match="already holds 50 people"):
        call_command("demo", "--people", "10")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is used on PostgreSQL only")
def test_copy_on_postgresql_writes_the_same_rows_as_bulk_create(monkeypatch):
    runs = []
    for use_copy in (True, False):
        monkeypatch.setattr(services, "BulkInserter", partial(BulkInserter, use_copy=use_copy))
        with transaction.atomic():
            demo_generate(seed=11, **SMALL)
            runs.append(_fingerprint())
            transaction.set_rollback(True)
    assert runs[0] == runs[1]
