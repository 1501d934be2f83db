"""The MQL rule moves people to MQL through the lifecycle service, citing contract version and evidence."""

import datetime as dt

import pytest

from tandem.contract import services
from tandem.contract.qualification import people_qualify, people_qualify_all, person_qualify
from tandem.crm.models import Person, StageChange
from tandem.crm.tests.factories import make_person
from tandem.scoring.tests.factories import set_scores

pytestmark = pytest.mark.django_db


def _scored(email: str, stage: str, fit: int, engagement: int) -> Person:
    person = make_person(email=email, stage=stage)
    set_scores(person, fit=fit, engagement=engagement)
    person.refresh_from_db()
    return person


def test_a_person_meeting_both_thresholds_becomes_mql_with_evidence():
    version = services.contract_get().active_version
    person = _scored("ada@acme.test", "lead", fit=72, engagement=41)
    change = person_qualify(person=person, version=version)
    person.refresh_from_db()
    assert person.lifecycle_stage_id == "mql"
    assert change.reason == "MQL because fit 72 >= 60 and engagement 41 >= 40, contract v1"
    assert change.contract_version == 1
    assert change.actor_type == "rule"
    assert change.evidence["fit_score"] == 72 and change.evidence["engagement_score_at_least"] == 40


def test_below_a_threshold_or_past_mql_nobody_moves():
    version = services.contract_get().active_version
    low = _scored("low@acme.test", "lead", fit=59, engagement=90)
    ahead = _scored("sal@acme.test", "sal", fit=90, engagement=90)
    assert person_qualify(person=low, version=version) is None
    assert person_qualify(person=ahead, version=version) is None
    assert StageChange.objects.filter(to_stage_id="mql").count() == 0


def test_qualify_all_moves_exactly_the_people_the_rule_holds_for():
    version = services.contract_get().active_version
    _scored("a@acme.test", "lead", fit=60, engagement=40)
    _scored("b@acme.test", "subscriber", fit=80, engagement=55)
    recycled = _scored("c@acme.test", "recycled", fit=61, engagement=45)
    _scored("d@acme.test", "lead", fit=60, engagement=39)
    _scored("e@acme.test", "sql", fit=99, engagement=99)
    # Recycled long enough ago: past the contract's cooling-off period of 30 days.
    Person.objects.filter(pk=recycled.pk).update(stage_entered_at=recycled.stage_entered_at - dt.timedelta(days=31))
    assert people_qualify_all(version=version) == 3
    assert sorted(Person.objects.filter(lifecycle_stage_id="mql").values_list("email", flat=True)) == [
        "a@acme.test",
        "b@acme.test",
        "c@acme.test",
    ]
    assert people_qualify_all(version=version) == 0


def test_a_batch_qualifies_only_its_own_people_who_meet_the_rule():
    version = services.contract_get().active_version
    a = _scored("a@acme.test", "lead", fit=60, engagement=40)
    low = _scored("low@acme.test", "lead", fit=60, engagement=39)
    ahead = _scored("sql@acme.test", "sql", fit=99, engagement=99)
    outside = _scored("outside@acme.test", "lead", fit=90, engagement=90)
    recycled = _scored("recent@acme.test", "recycled", fit=90, engagement=90)  # recycled today: cooling off
    batch = [a.pk, low.pk, ahead.pk, recycled.pk, a.pk]
    assert people_qualify(person_ids=batch, version=version) == 1
    assert list(Person.objects.filter(lifecycle_stage_id="mql").values_list("email", flat=True)) == ["a@acme.test"]
    change = StageChange.objects.get(to_stage_id="mql")
    assert change.reason == "MQL because fit 60 >= 60 and engagement 40 >= 40, contract v1"
    # Run again: nobody else moves, and the person outside the batch was never asked.
    assert people_qualify(person_ids=batch, version=version) == 0
    assert Person.objects.get(pk=outside.pk).lifecycle_stage_id == "lead"
    assert people_qualify(person_ids=[], version=version) == 0


def test_publishing_rescores_everyone_and_qualifies_with_the_new_version(cast, django_capture_on_commit_callbacks):
    from django.utils import timezone

    from tandem.contract.document import default_source
    from tandem.crm.tests.factories import make_account
    from tandem.engagement.models import Touchpoint

    account = make_account(industry="Software", employee_count=500, region="North America")
    ada = make_person(email="ada@acme.com", account=account, title="VP Marketing")
    quiet = make_person(email="quiet@acme.com", account=account, title="VP Sales")
    Touchpoint.objects.create(person=ada, type="form_submit", occurred_at=timezone.now())
    Touchpoint.objects.create(person=ada, type="webinar", occurred_at=timezone.now())
    # v2 lowers the engagement bar to 45: Ada's 30 + 15 points now qualify her.
    source = default_source().replace("engagement_score_at_least: 40", "engagement_score_at_least: 45")
    draft = services.contract_draft_create(by=cast.marketer, source=source, summary="Lower the bar")
    services.contract_propose(by=cast.marketer, version=draft)
    services.contract_decide(by=cast.marketing_manager, version=draft, decision="approve")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.contract_decide(by=cast.sales_manager, version=draft, decision="approve")
    # The publication's follow-up, the analysis rollup's catch-up queued by Ada's stage change, routing
    # of the hand-off it made when Ada became MQL, and the scheduling of that hand-off's SLA due-time task.
    assert len(callbacks) == 4
    assert ada.handoffs.get().assignee in (cast.sdr, cast.ae)
    ada.refresh_from_db()
    quiet.refresh_from_db()
    assert (ada.fit_score, ada.engagement_score, ada.lifecycle_stage_id) == (90, 45, "mql")
    assert (quiet.fit_score, quiet.engagement_score, quiet.lifecycle_stage_id) == (90, 0, "lead")
    change = StageChange.objects.get(person=ada, to_stage_id="mql")
    assert change.reason == "MQL because fit 90 >= 60 and engagement 45 >= 45, contract v2"
    assert change.contract_version == 2


def test_segments_set_their_own_bar_and_the_extra_condition_must_hold(cast):
    from django.utils import timezone

    from tandem.contract.document import default_source
    from tandem.crm.tests.factories import make_account
    from tandem.engagement.models import Touchpoint

    source = default_source().replace(
        "  from_stages: [subscriber, lead, recycled]\n",
        "  from_stages: [subscriber, lead, recycled]\n"
        "  when: count(form_submit, last 30 days) >= 1\n"
        "  segments:\n"
        "    - {name: Enterprise, when: account.employee_count >= 1000, fit_score_at_least: 50,"
        " engagement_score_at_least: 30}\n",
    )
    draft = services.contract_draft_create(by=cast.marketer, source=source, summary="Enterprise bar")
    assert draft.problems == []
    big = make_account(name="Big", domain="big.test", employee_count=5000)
    small = make_account(name="Small", domain="small.test", employee_count=20)
    enterprise = _scored("e@big.test", "lead", fit=55, engagement=35)
    other = _scored("o@small.test", "lead", fit=55, engagement=35)
    silent = _scored("s@big.test", "lead", fit=90, engagement=90)
    Person.objects.filter(pk=enterprise.pk).update(account=big)
    Person.objects.filter(pk__in=[other.pk]).update(account=small)
    Person.objects.filter(pk=silent.pk).update(account=big)
    for person in (enterprise, other):
        Touchpoint.objects.create(person=person, type="form_submit", occurred_at=timezone.now())
    assert people_qualify_all(version=draft) == 1
    change = StageChange.objects.get(to_stage_id="mql")
    assert change.person_id == enterprise.pk
    assert change.reason == (
        "MQL because fit 55 >= 50 and engagement 35 >= 30 (segment Enterprise) and "
        "count(form_submit, last 30 days) >= 1, contract v2"
    )
    assert change.evidence["segment"] == "Enterprise"
