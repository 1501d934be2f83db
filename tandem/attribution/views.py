"""The attribution page, the drill-down to journeys, and the journey of a person or an account."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from tandem.attribution import permissions
from tandem.attribution.charts import comparison_chart
from tandem.attribution.engine import MODEL_KEYS, model_catalogue
from tandem.attribution.periods import PeriodError, period_parse
from tandem.attribution.reports import (
    account_journey,
    attribution_report,
    current_policy,
    journeys_touching,
    person_journey,
)
from tandem.attribution.selectors import CONVERSIONS
from tandem.crm.models import Account, Person

DEFAULT_CONVERSION = "closed_won"


def _check(request) -> None:
    if not permissions.can_view_attribution(request.user):
        raise PermissionDenied("Your account cannot read attribution.")


def _choices(request, policy) -> dict:
    """The page's settings from the query string, each checked; problems listed by field."""
    problems = []
    conversion = request.GET.get("conversion") or DEFAULT_CONVERSION
    if conversion not in CONVERSIONS:
        problems.append(f"conversion: '{conversion[:40]}' is not one of {', '.join(CONVERSIONS)}.")
        conversion = DEFAULT_CONVERSION
    model = request.GET.get("model") or policy.default_model
    if model not in MODEL_KEYS:
        problems.append(f"model: '{model[:40]}' is not one of {', '.join(MODEL_KEYS)}.")
        model = policy.default_model
    try:
        start, end = period_parse(request.GET.get("from"), request.GET.get("to"), today=timezone.now().date())
    except PeriodError as error:
        problems.append(str(error))
        start, end = period_parse(None, None, today=timezone.now().date())
    return {"conversion": conversion, "model": model, "start": start, "end": end, "problems": problems}


def _context(choices: dict) -> dict:
    last_day = choices["end"] - timezone.timedelta(days=1)
    return {
        **choices,
        "from": choices["start"].date().isoformat(),
        "to": last_day.date().isoformat(),
        "conversions": list(CONVERSIONS.items()),
    }


@login_required
@require_GET
def attribution_page(request):
    _check(request)
    policy = current_policy()
    choices = _choices(request, policy)
    report = attribution_report(
        conversion=choices["conversion"], start=choices["start"], end=choices["end"], policy=policy
    )
    selected = report.model(choices["model"])
    context = {
        **_context(choices),
        "report": report,
        "selected": selected,
        "chart": comparison_chart(report, selected=selected.key),
        "campaign_rows": [_row(row, selected.key, report.has_value) for row in report.campaigns],
        "channel_rows": [_row(row, selected.key, report.has_value) for row in report.channels],
        "models": report.models,
    }
    template = "attribution/_report.html" if request.htmx else "attribution/page.html"
    return render(request, template, context, status=400 if choices["problems"] else 200)


def _row(row, model: str, has_value: bool) -> dict:
    loop = row.closed_loop
    return {
        "name": row.name,
        "campaign_id": row.campaign_id,
        "channel": row.channel,
        "cost": row.cost,
        "conversions": row.conversions[model],
        "value": row.value[model],
        "roi": row.roi(model) if has_value else None,
        "cost_per_conversion": row.cost_per_conversion(model),
        "mqls": loop.mqls,
        "acceptance_rate": loop.acceptance_rate,
        "rejected": loop.rejected,
        "reasons": loop.reasons.most_common(3),
        "onward_rate": loop.onward_rate,
    }


@login_required
@require_GET
def campaign_journeys(request, campaign_id: int):
    """The journeys that touched one campaign (0: touches without a campaign) under the chosen model."""
    _check(request)
    policy = current_policy()
    choices = _choices(request, policy)
    report = attribution_report(
        conversion=choices["conversion"],
        start=choices["start"],
        end=choices["end"],
        policy=policy,
        models=[choices["model"]],
        with_closed_loop=False,
    )
    target = campaign_id or None
    name = next((row.name for row in report.campaigns if row.campaign_id == target), None)
    if name is None:
        return render(request, "404.html", {"what": f"Campaign {campaign_id}"}, status=404)
    lines = journeys_touching(report, campaign_id=target, model=choices["model"])
    context = {
        **_context(choices),
        "report": report,
        "campaign_name": name,
        "lines": lines,
        "selected": report.models[0],
    }
    return render(request, "attribution/campaign_journeys.html", context)


@login_required
@require_GET
def person_journey_page(request, person_id: int):
    _check(request)
    person = get_object_or_404(Person, pk=person_id)
    policy = current_policy()
    context = {
        "subject": person,
        "subject_kind": "person",
        "conversions": person_journey(person, policy),
        "models": [spec for key, spec in model_catalogue(policy.settings).items() if key != "markov"],
        "policy": policy,
    }
    return render(request, "attribution/journey.html", context)


@login_required
@require_GET
def account_journey_page(request, account_id: int):
    _check(request)
    account = get_object_or_404(Account, pk=account_id)
    policy = current_policy()
    context = {
        "subject": account,
        "subject_kind": "account",
        "conversions": account_journey(account, policy),
        "models": [spec for key, spec in model_catalogue(policy.settings).items() if key != "markov"],
        "policy": policy,
    }
    return render(request, "attribution/journey.html", context)
