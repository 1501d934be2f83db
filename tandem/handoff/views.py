"""Pages of the hand-off: my hand-offs, one hand-off, the team view, reports and goals, notifications."""

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from tandem.handoff import permissions, selectors, services
from tandem.handoff.models import Handoff, Notification
from tandem.users.models import User

REPORT_DAYS = 30


def _handoff_or_404(pk: int) -> Handoff:
    try:
        return selectors.handoff_get(pk)
    except Handoff.DoesNotExist:
        raise Http404(f"There is no hand-off {pk}.") from None


def _back(request, handoff: Handoff):
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect("handoff:detail", handoff.pk)


def _messages_of(request, error: ValidationError) -> None:
    for field, problems in error.message_dict.items():
        messages.error(request, f"{field}: {' '.join(problems)}")


@login_required
@require_GET
def my_handoffs(request):
    """The rep's queue, due first; their team's waiting hand-offs below."""
    user = request.user
    return render(
        request,
        "handoff/my_handoffs.html",
        {
            "section": "handoff",
            "handoffs": selectors.my_handoffs(user)[:200],
            "queued": selectors.team_queue(user.team_id)[:100] if user.team_id else [],
            "reasons": services.rejection_reasons(),
            "notifications": selectors.unread_notifications(user, limit=10),
            "time_off": selectors.upcoming_time_off(user),
            "now": timezone.now(),
        },
    )


@login_required
@require_POST
def time_off_create(request):
    """Record the signed-in user's own time off: routing skips them during it."""
    if not permissions.can_manage_time_off(request.user, request.user):
        raise PermissionDenied("Your role cannot record time off.")
    zone = timezone.get_current_timezone()
    try:
        starts_at = dt.datetime.fromisoformat(request.POST.get("starts_at", ""))
        ends_at = dt.datetime.fromisoformat(request.POST.get("ends_at", ""))
    except ValueError:
        messages.error(request, "starts_at and ends_at: dates and times as YYYY-MM-DDTHH:MM.")
        return redirect("handoff:mine")
    if timezone.is_naive(starts_at):
        starts_at = timezone.make_aware(starts_at, zone)
    if timezone.is_naive(ends_at):
        ends_at = timezone.make_aware(ends_at, zone)
    try:
        services.time_off_create(
            user=request.user, starts_at=starts_at, ends_at=ends_at, by=request.user, note=request.POST.get("note", "")
        )
        messages.success(request, "Time off saved: no new hand-offs come to you during it.")
    except ValidationError as error:
        _messages_of(request, error)
    return redirect("handoff:mine")


@login_required
@require_GET
def handoff_detail(request, pk: int):
    handoff = _handoff_or_404(pk)
    return render(
        request,
        "handoff/handoff_detail.html",
        {
            "section": "handoff",
            "handoff": handoff,
            "ledger": selectors.handoff_ledger(handoff),
            "reasons": services.rejection_reasons(),
            "can_decide": handoff.is_open and permissions.can_decide_handoff(request.user, handoff),
            "can_reassign": handoff.is_open and permissions.can_reassign_handoff(request.user, handoff),
            "reps": User.objects.filter(is_active=True, role__in=services.OWNER_ROLES).order_by("full_name"),
        },
    )


@login_required
@require_POST
def handoff_accept(request, pk: int):
    handoff = _handoff_or_404(pk)
    if not permissions.can_decide_handoff(request.user, handoff):
        raise PermissionDenied("Only the rep the hand-off is assigned to, or their sales manager, may accept it.")
    try:
        services.handoff_accept(handoff=handoff, by=request.user, note=request.POST.get("note", ""))
        messages.success(request, f"{handoff.person} accepted: now SAL.")
    except ValidationError as error:
        _messages_of(request, error)
    return _back(request, handoff)


@login_required
@require_POST
def handoff_reject(request, pk: int):
    handoff = _handoff_or_404(pk)
    if not permissions.can_decide_handoff(request.user, handoff):
        raise PermissionDenied("Only the rep the hand-off is assigned to, or their sales manager, may reject it.")
    try:
        handoff = services.handoff_reject(
            handoff=handoff, by=request.user, reason=request.POST.get("reason", ""), note=request.POST.get("note", "")
        )
        messages.success(request, f"{handoff.person} rejected: {handoff.get_rejection_outcome_display().lower()}.")
    except ValidationError as error:
        _messages_of(request, error)
    return _back(request, handoff)


@login_required
@require_POST
def handoff_reassign(request, pk: int):
    handoff = _handoff_or_404(pk)
    if not permissions.can_reassign_handoff(request.user, handoff):
        raise PermissionDenied("Only the team's sales manager or RevOps may reassign a hand-off.")
    to_user = None
    if request.POST.get("to_user"):
        to_user = User.objects.filter(pk=request.POST["to_user"], is_active=True).first()
        if to_user is None:
            messages.error(request, "to_user: there is no such active user.")
            return _back(request, handoff)
    try:
        handoff = services.handoff_reassign(
            handoff=handoff, by=request.user, to_user=to_user, reason=request.POST.get("reason", "")
        )
        messages.success(request, f"Reassigned to {handoff.assignee}.")
    except ValidationError as error:
        _messages_of(request, error)
    return _back(request, handoff)


@login_required
@require_GET
def team_view(request):
    """The manager's view: each rep's open hand-offs, decisions of the last 30 days, fairness, and the queue."""
    if not permissions.can_view_team(request.user):
        raise PermissionDenied("The team view is for managers, RevOps and leadership.")
    since = timezone.now() - dt.timedelta(days=REPORT_DAYS)
    views = [selectors.team_view(team, since=since) for team in selectors.managed_teams(request.user)]
    return render(request, "handoff/team_view.html", {"section": "handoff-team", "views": views, "days": REPORT_DAYS})


def _period(request) -> tuple[dt.date, dt.date, list[str]]:
    errors = []
    today = timezone.now().date()
    start, end = today - dt.timedelta(days=REPORT_DAYS - 1), today
    for name in ("start", "end"):
        text = request.GET.get(name, "")
        if text:
            try:
                value = dt.date.fromisoformat(text)
            except ValueError:
                errors.append(f"{name}: '{text[:20]}' is not a date (YYYY-MM-DD).")
                continue
            if name == "start":
                start = value
            else:
                end = value
    if end < start:
        errors.append("end: the end must be on or after the start.")
        start, end = end, start
    return start, end, errors


@login_required
@require_GET
def reports(request):
    """Marketing's side of the agreement: acceptance and rejection reasons by campaign, source, segment; MQL goals."""
    start, end, errors = _period(request)
    grouping = request.GET.get("by", "campaign")
    if grouping not in selectors.GROUPINGS:
        errors.append(f"by: expected one of {', '.join(selectors.GROUPINGS)}.")
        grouping = "campaign"
    reasons = services.rejection_reasons()
    rows = selectors.acceptance_by(
        grouping,
        start=dt.datetime.combine(start, dt.time.min, tzinfo=dt.UTC),
        end=dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC),
        reason_labels={key: reason["label"] for key, reason in reasons.items()},
    )
    return render(
        request,
        "handoff/reports.html",
        {
            "section": "handoff-reports",
            "start": start,
            "end": end,
            "grouping": grouping,
            "groupings": selectors.GROUPINGS,
            "rows": rows,
            "total": selectors.acceptance_total(rows),
            "errors": errors,
            "goals": selectors.mql_goal_progress(),
            "can_set_goal": permissions.can_set_mql_goal(request.user),
            "segments": selectors.segments_in_use(),
        },
    )


@login_required
@require_POST
def goal_set(request):
    if not permissions.can_set_mql_goal(request.user):
        raise PermissionDenied("Only marketing managers and RevOps set MQL goals.")
    try:
        start = dt.date.fromisoformat(request.POST.get("period_start", ""))
        end = dt.date.fromisoformat(request.POST.get("period_end", ""))
        target = int(request.POST.get("target", ""))
    except ValueError:
        messages.error(request, "period_start, period_end and target: dates as YYYY-MM-DD and a whole number.")
        return redirect("handoff:reports")
    try:
        services.mql_goal_set(
            period_start=start, period_end=end, target=target, segment=request.POST.get("segment", ""), by=request.user
        )
        messages.success(request, "Goal saved.")
    except ValidationError as error:
        _messages_of(request, error)
    return redirect("handoff:reports")


@login_required
@require_GET
def notification_list(request):
    return render(
        request,
        "handoff/notifications.html",
        {"section": "handoff", "notifications": selectors.notifications(request.user)},
    )


@login_required
@require_POST
def notification_read(request, pk: int):
    notification = Notification.objects.filter(pk=pk, user=request.user).first()
    if notification is None:
        raise Http404("There is no such notification of yours.")
    services.notification_mark_read(notification=notification, by=request.user)
    if notification.link.startswith("/"):
        return redirect(notification.link)
    return redirect("handoff:notifications")
