"""API of the hand-off: a rep's queue, one hand-off, accept, reject, reassign, time off, MQL goals, reports."""

import datetime as dt

from django.core.exceptions import PermissionDenied
from ninja import Field, Router, Schema, Status

from tandem.handoff import permissions, selectors, services
from tandem.handoff.models import Handoff
from tandem.lib.http_api import Input, acting_as, get_or_404, owner_reference

router = Router(tags=["hand-offs"])


class HandoffOut(Schema):
    id: int
    person_id: int
    person_name: str
    account_id: int | None
    assignee_id: int | None
    team_id: int | None
    status: str
    routing_rule: str
    routing_reason: str
    segment: str
    icp_tier: int | None
    source: str
    campaign_id: int | None
    contract_version: int | None
    created_at: dt.datetime
    routed_at: dt.datetime | None
    accepted_at: dt.datetime | None
    rejected_at: dt.datetime | None
    rejection_reason: str
    rejection_outcome: str
    rejection_note: str
    due_at: dt.datetime | None
    first_response_at: dt.datetime | None
    sla_status: str | None

    @staticmethod
    def resolve_person_name(handoff: Handoff) -> str:
        return str(handoff.person)


class HandoffList(Schema):
    items: list[HandoffOut]


class ErrorOut(Schema):
    detail: list[dict]


class AcceptIn(Input):
    note: str = Field("", max_length=2000)


class RejectIn(Input):
    reason: str | None = Field(None, max_length=40, description="A key of the contract's rejection reasons.")
    note: str = Field("", max_length=2000)


class ReassignIn(Input):
    to_user: int | None = Field(None, description="The rep's user id; leave out to let routing choose.")
    reason: str = Field("", max_length=500)


class TimeOffIn(Input):
    user: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    note: str = Field("", max_length=200)


class TimeOffOut(Schema):
    id: int
    user_id: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    note: str


class GoalIn(Input):
    period_start: dt.date
    period_end: dt.date
    segment: str = Field("", max_length=80)
    target: int = Field(..., ge=1, le=10_000_000)


class GoalOut(Schema):
    id: int
    period_start: dt.date
    period_end: dt.date
    segment: str
    target: int
    actual: int
    expected_by_now: float


class AcceptanceRowOut(Schema):
    key: str
    label: str
    accepted: int
    rejected: int
    pending: int
    acceptance_rate: float | None
    reasons: dict[str, int]


def _handoff(handoff_id: int) -> Handoff:
    return get_or_404(Handoff.objects.select_related("person", "assignee", "team"), handoff_id, "hand-off")


@router.get("/handoffs/mine", response=HandoffList, summary="My open hand-offs, due first on top")
def my_handoffs(request):
    return {"items": list(selectors.my_handoffs(request.user)[:500])}


@router.get("/handoffs/{handoff_id}", response=HandoffOut)
def handoff_detail(request, handoff_id: int):
    return _handoff(handoff_id)


@router.post("/handoffs/{handoff_id}/accept", response=HandoffOut, summary="Accept: the person becomes SAL")
def handoff_accept(request, handoff_id: int, payload: AcceptIn):
    handoff = _handoff(handoff_id)
    if not permissions.can_decide_handoff(request.user, handoff):
        raise PermissionDenied("Only the rep the hand-off is assigned to, or their sales manager, may accept it.")
    return services.handoff_accept(handoff=handoff, by=request.user, note=payload.note)


@router.post(
    "/handoffs/{handoff_id}/reject",
    response={200: HandoffOut, 400: ErrorOut},
    summary="Reject with a reason from the contract's list; the person is recycled or disqualified",
)
def handoff_reject(request, handoff_id: int, payload: RejectIn):
    handoff = _handoff(handoff_id)
    if not permissions.can_decide_handoff(request.user, handoff):
        raise PermissionDenied("Only the rep the hand-off is assigned to, or their sales manager, may reject it.")
    if not (payload.reason or "").strip():
        reasons = ", ".join(services.rejection_reasons())
        return Status(400, {"detail": [{"field": "reason", "message": f"A reason is required: one of {reasons}."}]})
    return services.handoff_reject(handoff=handoff, by=request.user, reason=payload.reason.strip(), note=payload.note)


@router.post("/handoffs/{handoff_id}/reassign", response=HandoffOut, summary="Give the hand-off to another rep")
def handoff_reassign(request, handoff_id: int, payload: ReassignIn):
    handoff = _handoff(handoff_id)
    if not permissions.can_reassign_handoff(request.user, handoff):
        raise PermissionDenied("Only the team's sales manager or RevOps may reassign a hand-off.")
    to_user = owner_reference(payload.to_user, field="to_user") if payload.to_user is not None else None
    return services.handoff_reassign(handoff=handoff, by=acting_as(request), to_user=to_user, reason=payload.reason)


@router.post("/time-off", response={201: TimeOffOut}, summary="Record a period a user is away")
def time_off_create(request, payload: TimeOffIn):
    user = owner_reference(payload.user, field="user")
    if not permissions.can_manage_time_off(request.user, user):
        raise PermissionDenied("Only the user, their manager or RevOps may record their time off.")
    time_off = services.time_off_create(
        user=user, starts_at=payload.starts_at, ends_at=payload.ends_at, by=acting_as(request), note=payload.note
    )
    return Status(201, time_off)


def _goal_out(progress) -> dict:
    goal = progress.goal
    return {
        "id": goal.pk,
        "period_start": goal.period_start,
        "period_end": goal.period_end,
        "segment": goal.segment,
        "target": goal.target,
        "actual": progress.actual,
        "expected_by_now": round(progress.expected_by_now, 2),
    }


@router.get("/mql-goals", response=list[GoalOut], summary="MQL goals with their progress")
def goal_list(request):
    return [_goal_out(progress) for progress in selectors.mql_goal_progress()]


@router.post("/mql-goals", response=GoalOut, summary="Set the MQL goal of a period (and segment)")
def goal_set(request, payload: GoalIn):
    if not permissions.can_set_mql_goal(request.user):
        raise PermissionDenied("Only marketing managers and RevOps set MQL goals.")
    goal = services.mql_goal_set(
        period_start=payload.period_start,
        period_end=payload.period_end,
        segment=payload.segment,
        target=payload.target,
        by=acting_as(request),
    )
    progress = next(item for item in selectors.mql_goal_progress(limit=1000) if item.goal.pk == goal.pk)
    return _goal_out(progress)


@router.get(
    "/handoffs/report/acceptance",
    response={200: list[AcceptanceRowOut], 400: ErrorOut},
    summary="Acceptance rate and rejection reasons by campaign, source or segment",
)
def acceptance_report(request, start: dt.date, end: dt.date, by: str = "campaign"):
    if by not in selectors.GROUPINGS:
        return Status(
            400, {"detail": [{"field": "by", "message": f"Expected one of {', '.join(selectors.GROUPINGS)}."}]}
        )
    if end < start:
        return Status(400, {"detail": [{"field": "end", "message": "The end must be on or after the start."}]})
    labels = {key: reason["label"] for key, reason in services.rejection_reasons().items()}
    rows = selectors.acceptance_by(
        by,
        start=dt.datetime.combine(start, dt.time.min, tzinfo=dt.UTC),
        end=dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC),
        reason_labels=labels,
    )
    return [
        {
            "key": row.key,
            "label": row.label,
            "accepted": row.accepted,
            "rejected": row.rejected,
            "pending": row.pending,
            "acceptance_rate": row.acceptance_rate,
            "reasons": row.reasons,
        }
        for row in rows
    ]
