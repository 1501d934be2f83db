import datetime as dt

import pytest
from django.db import IntegrityError, transaction

from tandem.crm.tests.factories import make_person
from tandem.handoff.models import Handoff, HandoffStatus

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


@pytest.mark.django_db
def test_a_person_has_at_most_one_open_handoff():
    person = make_person()
    Handoff.objects.create(person=person, status=HandoffStatus.PENDING, created_at=NOW)
    with pytest.raises(IntegrityError), transaction.atomic():
        Handoff.objects.create(person=person, status=HandoffStatus.QUEUED, created_at=NOW)
    Handoff.objects.create(person=person, status=HandoffStatus.REJECTED, created_at=NOW)
    assert Handoff.objects.filter(person=person).count() == 2
