"""Pages of lifetime value: the fit, the distribution of values, and a refit."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from tandem.clv import charts, selectors, services, tasks
from tandem.clv.forms import RefitForm
from tandem.clv.permissions import can_refit_clv


@login_required
@require_GET
def clv_overview(request):
    """The fit in force, its history, and the distribution of predicted values of accounts and people."""
    distributions = []
    for kind, title in (("account", "Accounts"), ("person", "People")):
        histogram = selectors.value_histogram(kind=kind)
        distributions.append(
            {"kind": kind, "title": title, "histogram": histogram, "chart": charts.histogram_bars(histogram)}
        )
    return render(
        request,
        "clv/overview.html",
        {
            "section": "clv",
            "fit": selectors.latest_fit(),
            "fits": selectors.fit_list(),
            "distributions": distributions,
            "can_refit": can_refit_clv(request.user),
            "form": RefitForm(),
        },
    )


@login_required
@require_POST
def clv_refit(request):
    """Queue a refit on the worker (the task runs the same permission check as the service)."""
    if not can_refit_clv(request.user):
        raise PermissionDenied("Only RevOps and the marketing and sales managers refit lifetime value.")
    form = RefitForm(request.POST)
    if not form.is_valid():
        for field, errors in form.errors.items():
            messages.error(request, f"{field}: {' '.join(errors)}")
        return redirect("clv:overview")
    try:
        tasks.clv_refit(
            user_id=request.user.pk, unit=form.cleaned_data["unit"], horizon_months=form.cleaned_data["horizon_months"]
        )
    except services.ClvDataError as error:
        # Raised here when the worker runs tasks immediately (tests, a single process).
        messages.error(request, f"Cannot fit lifetime value: {error}")
        return redirect("clv:overview")
    messages.success(request, "Refit queued: the values are replaced when the worker has run it.")
    return redirect("clv:overview")
