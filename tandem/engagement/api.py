"""API of engagement beyond event collection: merging people and a person's sessions."""

import datetime as dt

from django.core.exceptions import PermissionDenied, ValidationError
from ninja import Router, Schema

from tandem.crm.models import Person
from tandem.engagement import selectors, services
from tandem.engagement.permissions import can_merge_people
from tandem.lib.http_api import Input, RecordId, acting_as, get_or_404

router = Router()


class MergeIn(Input):
    merged_person: RecordId


class MergeOut(Schema):
    kept_person: int
    merged_person: int
    moved: dict[str, int]
    merged_at: dt.datetime


@router.post("/people/{person_id}/merge", response=MergeOut, tags=["people"])
def person_merge(request, person_id: RecordId, payload: MergeIn):
    """Merge another person into this one: all their history moves here, and they are deleted. Recorded and audited."""
    if not can_merge_people(request.user):
        raise PermissionDenied("Only RevOps and managers merge people.")
    kept = get_or_404(Person.objects.all(), person_id, "Person")
    if payload.merged_person == person_id:
        raise ValidationError({"merged_person": "A person cannot be merged into themselves."})
    merged = get_or_404(Person.objects.all(), payload.merged_person, "Person")
    record = services.person_merge(by=acting_as(request), kept=kept, merged=merged)
    return {
        "kept_person": record.kept_person_id,
        "merged_person": record.merged_person_id,
        "moved": record.moved_counts,
        "merged_at": record.merged_at,
    }


class SessionOut(Schema):
    started_at: dt.datetime
    ended_at: dt.datetime
    page_views: int
    first_url: str
    channel: str


@router.get("/people/{person_id}/sessions", response=list[SessionOut], tags=["people"])
def person_sessions(request, person_id: RecordId):
    """The person's visits: page views grouped into sessions ended by 30 minutes without one, newest first."""
    person = get_or_404(Person.objects.all(), person_id, "Person")
    return selectors.person_sessions(person_id=person.pk)
