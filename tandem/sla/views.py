"""Pages of the hand-off SLA: the compliance report, the breach log, and the countdown partial."""

import datetime as dt

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from tandem.handoff.models import Handoff
from tandem.sla import permissions, selectors
from tandem.users.models import Team, User

GROUP_LABELS = {"rep": "Rep", "team": "Team", "segment": "Segment", "policy": "Policy"}
PERIOD_LABELS = {"": "Whole range", "month": "Month", "quarter": "Quarter", "year": "Year"}


def _month(value: str, field: str, errors: list[str]) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(f"{value}-01")
    except ValueError:
        errors.append(f"{field}: expected a month as YYYY-MM, got {value[:20]!r}.")
        return None


def _labels(group_by: str, keys) -> dict:
    if group_by == "rep":
        return {user.pk: str(user) for user in User.objects.filter(pk__in=[key for key in keys if key])}
    if group_by == "team":
        return dict(Team.objects.filter(pk__in=[key for key in keys if key]).values_list("pk", "name"))
    return {}


@login_required
@require_GET
def compliance_report(request):
    """SLA compliance by rep, team, segment or policy and period, with median and p90 response times."""
    if not permissions.can_view_sla_reports(request.user):
        raise PermissionDenied("Managers, RevOps and leadership see the SLA report.")
    errors: list[str] = []
    group_by = request.GET.get("group", "rep")
    if group_by not in GROUP_LABELS:
        errors.append(f"group: expected one of {', '.join(GROUP_LABELS)}.")
        group_by = "rep"
    period = request.GET.get("period", "")
    if period not in PERIOD_LABELS:
        errors.append(f"period: expected one of {', '.join(key for key in PERIOD_LABELS if key)}.")
        period = ""
    first_month = _month(request.GET.get("from", ""), "from", errors)
    last_month = _month(request.GET.get("to", ""), "to", errors)
    rows = selectors.sla_compliance(
        group_by=group_by, period=period or None, first_month=first_month, last_month=last_month
    )
    labels = _labels(group_by, {row.key for row in rows})
    table = [
        {
            "row": row,
            "label": labels.get(row.key, row.key) if row.key not in (None, "") else "—",
            "compliance_percent": None if row.compliance is None else round(row.compliance * 100, 1),
        }
        for row in rows
    ]
    return render(
        request,
        "sla/report.html",
        {
            "section": "handoff-sla",
            "table": table,
            "group_by": group_by,
            "period": period,
            "groupings": GROUP_LABELS,
            "periods": PERIOD_LABELS,
            "first_month": first_month,
            "last_month": last_month,
            "errors": errors,
            "as_of": selectors.rollup_as_of(),
        },
    )


@login_required
@require_GET
def breach_log(request):
    """Every breach, newest first: who held it, who was told, escalation and reassignment."""
    if not permissions.can_view_breach_log(request.user):
        raise PermissionDenied("Sign in to see the breach log.")
    mine_only = not permissions.can_view_sla_reports(request.user)
    breaches = selectors.breach_log(assignee_id=request.user.pk if mine_only else None)
    page = Paginator(breaches, 100).get_page(request.GET.get("page"))
    return render(
        request,
        "sla/breach_log.html",
        {"section": "handoff-breaches", "page": page, "mine_only": mine_only},
    )


@login_required
@require_GET
def countdown(request, pk: int):
    """The countdown badge alone, for htmx to refresh every minute."""
    handoff = Handoff.objects.filter(pk=pk).only("pk", "due_at", "sla_status", "response_business_minutes").first()
    if handoff is None:
        raise Http404(f"There is no hand-off {pk}.")
    return render(request, "sla/_countdown_tag.html", {"handoff": handoff})
