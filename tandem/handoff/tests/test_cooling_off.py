"""A person sales recycled may become MQL again only after the contract's cooling-off period."""

import datetime as dt

import pytest
import time_machine

from tandem.contract.qualification import people_qualify_all, person_qualify
from tandem.contract.services import contract_get
from tandem.crm.models import Person
from tandem.crm.tests.factories import make_person
from tandem.handoff.tests.factories import MONDAY_9, use_cooling_off
from tandem.scoring.tests.factories import set_scores

pytestmark = pytest.mark.django_db


def _recycled(email: str) -> Person:
    person = make_person(email=email, stage="recycled", at=MONDAY_9)
    set_scores(person, fit=90, engagement=90)
    person.refresh_from_db()
    return person


def test_a_recycled_person_requalifies_only_after_the_cooling_off_period():
    use_cooling_off(30)
    person = _recycled("again@prospect.test")
    version = contract_get().active_version
    with time_machine.travel(MONDAY_9 + dt.timedelta(days=29, hours=23), tick=False):
        assert person_qualify(person=person, version=version) is None
        assert people_qualify_all(version=version) == 0
    person.refresh_from_db()
    assert person.lifecycle_stage_id == "recycled"
    with time_machine.travel(MONDAY_9 + dt.timedelta(days=30, minutes=1), tick=False):
        assert people_qualify_all(version=version) == 1
    person.refresh_from_db()
    assert person.lifecycle_stage_id == "mql"


def test_without_a_cooling_off_period_a_recycled_person_requalifies_at_once():
    use_cooling_off(0)
    person = _recycled("now@prospect.test")
    with time_machine.travel(MONDAY_9 + dt.timedelta(minutes=5), tick=False):
        assert person_qualify(person=person, version=contract_get().active_version) is not None
