"""The MQL rule moves people to MQL through the lifecycle service, citing contract version and evidence."""

import pytest

from tandem.contract import services
from tandem.contract.qualification import people_qualify_all, person_qualify
from tandem.crm.models import Person, StageChange
from tandem.crm.tests.factories import make_person

pytestmark = pytest.mark.django_db


def _scored(email: str, stage: str, fit: int, engagement: int) -> Person:
    person = make_person(email=email, stage=stage)
    Person.objects.filter(pk=person.pk).update(fit_score=fit, engagement_score=engagement)
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
    _scored("c@acme.test", "recycled", fit=61, engagement=45)
    _scored("d@acme.test", "lead", fit=60, engagement=39)
    _scored("e@acme.test", "sql", fit=99, engagement=99)
    assert people_qualify_all(version=version) == 3
    assert sorted(Person.objects.filter(lifecycle_stage_id="mql").values_list("email", flat=True)) == [
        "a@acme.test",
        "b@acme.test",
        "c@acme.test",
    ]
    assert people_qualify_all(version=version) == 0
