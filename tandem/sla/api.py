"""API of the hand-off SLA: the compliance report and the breach log."""

import datetime as dt

from django.core.exceptions import PermissionDenied
from ninja import Router, Schema, Status

from tandem.sla import permissions, selectors

router = Router(tags=["hand-off SLA"])


class ErrorOut(Schema):
    detail: list[dict]


class ComplianceRowOut(Schema):
    key: int | str | None
    period: dt.date | None
    handoffs: int
    met: int
    breached: int
    pending: int
    compliance: float | None
    median_response_hours: float | None
    p90_response_hours: float | None


class BreachOut(Schema):
    id: int
    handoff_id: int
    person_id: int
    policy: str
    due_at: dt.datetime
    breached_at: dt.datetime
    assignee_id: int | None
    manager_id: int | None
    team_id: int | None
    segment: str
    escalated_at: dt.datetime | None
    responded_at: dt.datetime | None
    reassigned_to_id: int | None
    reassigned_at: dt.datetime | None
    note: str

    @staticmethod
    def resolve_person_id(breach) -> int:
        return breach.handoff.person_id


def _month(value: str | None, field: str, problems: list[dict]) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(f"{value}-01")
    except ValueError:
        problems.append({"field": field, "message": f"Expected a month as YYYY-MM, got {value[:20]!r}."})
        return None


@router.get(
    "/sla/compliance",
    response={200: list[ComplianceRowOut], 400: ErrorOut},
    summary="SLA compliance and response times by rep, team, segment or policy, per period",
)
def compliance(
    request, group: str = "rep", period: str | None = None, from_month: str | None = None, to_month: str | None = None
):
    if not permissions.can_view_sla_reports(request.user):
        raise PermissionDenied("Managers, RevOps and leadership see the SLA report.")
    problems: list[dict] = []
    if group not in selectors.GROUPINGS:
        problems.append({"field": "group", "message": f"Expected one of {', '.join(selectors.GROUPINGS)}."})
    if period is not None and period not in selectors.PERIODS:
        problems.append({"field": "period", "message": f"Expected one of {', '.join(selectors.PERIODS)}."})
    first_month = _month(from_month, "from_month", problems)
    last_month = _month(to_month, "to_month", problems)
    if problems:
        return Status(400, {"detail": problems})
    rows = selectors.sla_compliance(group_by=group, period=period, first_month=first_month, last_month=last_month)
    return [{**row.__dict__, "compliance": row.compliance} for row in rows]


@router.get("/sla/breaches", response=list[BreachOut], summary="The breach log, newest first (reps: their own)")
def breaches(request, limit: int = 100):
    mine_only = not permissions.can_view_sla_reports(request.user)
    found = selectors.breach_log(assignee_id=request.user.pk if mine_only else None)
    return list(found[: max(1, min(limit, 1000))])
