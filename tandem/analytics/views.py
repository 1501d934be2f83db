"""Scorecard pages: parse the period and filters, call selectors and services, render."""

import csv
import datetime as dt
import io
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_POST

from tandem.analytics import charts, kpis, permissions, selectors, services
from tandem.analytics.forms import RevenueTargetForm
from tandem.analytics.models import DigestSubscription, RevenueTarget, SavedView
from tandem.analytics.periods import Period, PeriodError, containing, period_parse
from tandem.campaigns.models import Channel
from tandem.exports.cells import neutralise

ANALYSIS_PAGES = {
    "funnel": "Funnel",
    "conversion": "Conversion and velocity",
    "trends": "Trends",
    "cohorts": "Cohorts",
    "pipeline": "Pipeline",
}
FILTER_NAMES = ("period", "icp_tier", "industry", "region", "campaign", "channel", "team", "owner")
HISTORY_PERIODS = 8


def _check(request) -> None:
    if not permissions.can_view_scorecard(request.user):
        raise PermissionDenied("Sign in to read the scorecard.")


def _period(request, today: dt.date) -> Period:
    try:
        return period_parse(request.GET.get("period"), today=today)
    except PeriodError as error:
        messages.error(request, f"period: {error}")
        return containing("quarter", today)


def _filters(request) -> selectors.ScorecardFilters:
    try:
        return services.scorecard_filters_from_query(dict(request.GET.lists()))
    except ValidationError as error:
        for field, problems in error.message_dict.items():
            messages.error(request, f"{field}: {' '.join(problems)}")
        return selectors.ScorecardFilters()


def _query(request, **overrides) -> str:
    params = {name: request.GET.get(name, "") for name in FILTER_NAMES}
    params.update(overrides)
    return urlencode({key: value for key, value in params.items() if value})


def _period_choices(period: Period, today: dt.date) -> list[tuple[str, str]]:
    quarter, month, year = containing("quarter", today), containing("month", today), containing("year", today)
    choices = [(item.key, item.label) for item in reversed(quarter.history(8))]
    choices += [(item.key, item.label) for item in reversed(month.history(12))]
    choices += [(item.key, item.label) for item in reversed(year.history(12))]
    if period.key not in {key for key, _ in choices}:
        choices.insert(0, (period.key, period.label))
    return choices


def _options(choices, selected: str, blank: str = "") -> str:
    """<option> tags for a filter menu, built once in Python rather than looped in the template (hundreds of
    campaigns and owners); labels are escaped."""
    options = [("", blank)] if blank else []
    options += [(str(value), str(label)) for value, label in choices]
    return format_html_join(
        "",
        '<option value="{}"{}>{}</option>',
        ((value, mark_safe(" selected") if value == selected else "", label) for value, label in options),  # noqa: S308 - a constant
    )


def _filter_menus(request, period: Period, today: dt.date) -> dict:
    choices = selectors.filter_choices()
    value = request.GET.get
    return {
        "period": _options(_period_choices(period, today), period.key),
        "icp_tier": _options([(tier, f"Tier {tier}") for tier in (1, 2, 3)], value("icp_tier", ""), "Any"),
        "industry": _options([(item, item) for item in choices["industries"]], value("industry", ""), "Any"),
        "region": _options([(item, item) for item in choices["regions"]], value("region", ""), "Any"),
        "campaign": _options(choices["campaigns"], value("campaign", ""), "Any"),
        "channel": _options(Channel.choices, value("channel", ""), "Any"),
        "team": _options(choices["teams"], value("team", ""), "Any"),
        "owner": _options([(pk, name or email) for pk, name, email in choices["owners"]], value("owner", ""), "Anyone"),
    }


def _base_context(request, period: Period, filters, today: dt.date) -> dict:
    return {
        "period": period,
        "filters": filters,
        # An htmx swap replaces the results only; the menus stay on the page.
        "menus": {} if request.htmx else _filter_menus(request, period, today),
        "query": _query(request),
        "saved_views": selectors.saved_views_for(request.user),
        "can_share": permissions.can_share_view(request.user),
        "pages": ANALYSIS_PAGES,
    }


def display(value, unit: str, currency: str = "") -> str:
    """A KPI value as people read it."""
    if value is None:
        return "—"
    if unit == "ratio":
        return f"{value:.1%}"
    if unit == "money":
        return f"{value:,.0f}" + (f" {currency}" if currency else "")
    if unit == "days":
        return f"{value:.1f} d"
    if unit == "times":
        return f"{value:.2f}×"
    return f"{value:,.0f}"


def _change(current, previous, unit: str) -> tuple[str, str]:
    """The change against the previous period in words, and whether it went up or down."""
    if current is None or previous is None:
        return "no comparison", "flat"
    if unit == "ratio":
        points = (current - previous) * 100
        return f"{points:+.1f} pts", "up" if points > 0 else ("down" if points < 0 else "flat")
    relative = kpis.change(current, previous)
    if relative is None:
        difference = current - previous
        return (f"{difference:+,.0f}", "up" if difference > 0 else ("down" if difference < 0 else "flat"))
    return f"{relative:+.0%}", "up" if relative > 0 else ("down" if relative < 0 else "flat")


def _drill_url(drill) -> str:
    if drill is None:
        return ""
    kind, params = drill
    name = "crm:person-list" if kind == "people" else "crm:opportunity-list"
    return reverse(name) + "?" + urlencode(params)


def _glossary_url(term: str) -> str:
    return reverse("contract:detail") + f"#term-{slugify(term)}"


def scorecard_context(filters, period: Period, today: dt.date, *, wait_for_history: bool = False) -> dict:
    """The tiles of one period with their change, sparkline, drill-down and glossary links.

    Past periods come from their close-of-period snapshots; those never kept are computed on the worker
    (the first view of a fresh install would otherwise wait for seven periods' numbers) and shown as being
    computed meanwhile, unless `wait_for_history` (a download, which must be complete)."""
    tiles = selectors.scorecard_tiles_cached(filters, period)
    history = period.history(HISTORY_PERIODS)
    if wait_for_history:
        past, pending = services.period_values(filters=filters, periods=history[:-1], today=today), []
    else:
        past, pending = services.period_values_or_queue(filters=filters, periods=history[:-1], today=today)
    currency = selectors.reporting_currency()
    previous_period = history[-2] if len(history) > 1 else None
    previous = past.get(previous_period, {}) if previous_period else {}
    views = []
    for tile in tiles:
        series = [(past.get(item, {}).get(tile.key) or {}).get("value") for item in history[:-1]] + [tile.value]
        before = (previous.get(tile.key) or {}).get("value")
        change_text, direction = _change(tile.value, before, tile.unit)
        if previous_period in pending:
            change_text, direction = "being computed", "flat"
        views.append(
            {
                "tile": tile,
                "display": display(tile.value, tile.unit, currency if tile.unit == "money" else ""),
                "previous": display(before, tile.unit, currency if tile.unit == "money" else ""),
                "change": change_text,
                "direction": direction,
                "spark": charts.sparkline(series),
                "series": list(zip([item.short_label for item in history], series, strict=True)),
                "drill_url": _drill_url(tile.drill),
                "glossary_url": _glossary_url(tile.glossary),
            }
        )
    return {
        "tiles": views,
        "previous_period": previous_period,
        "currency": currency,
        "history_pending": pending,
    }


@login_required
@require_GET
def scorecard(request):
    _check(request)
    today = timezone.localdate()
    period, filters = _period(request, today), _filters(request)
    context = _base_context(request, period, filters, today)
    context.update(scorecard_context(filters, period, today))
    context["subscription"] = DigestSubscription.objects.filter(user=request.user).select_related("view").first()
    context["can_set_target"] = permissions.can_set_revenue_target(request.user)
    template = "analytics/_scorecard_body.html" if request.htmx else "analytics/scorecard.html"
    return render(request, template, context)


ROLLUP_PAGES = ("funnel", "conversion", "trends", "cohorts")


def _analysis_data(page: str, filters, period: Period, request) -> dict:
    if page in ROLLUP_PAGES and services.stage_entries_behind():
        # The worker counts them within seconds; a page never waits for it. Stage changes recorded through
        # the services have queued that already; this covers those written some other way.
        services.stage_entries_catch_up_queue()
    if page == "funnel":
        from_stage = request.GET.get("from", "") or "lead"
        rows = selectors.funnel(filters, period, from_stage)
        window = {"entered_from": period.start.isoformat(), "entered_until": period.end.isoformat()}
        links = [
            _drill_url(
                (
                    "people",
                    {**filters.query(), "entered": from_stage, **window} | ({"reached": row.stage} if index else {}),
                )
            )
            for index, row in enumerate(rows)
        ]
        chart = charts.bars([row.name for row in rows], [row.reached for row in rows])
        return {
            "rows": list(zip(rows, links, strict=True)),
            "chart": chart,
            "from_stage": from_stage,
            "stages": selectors.main_stages(),
        }
    if page == "conversion":
        rows = selectors.conversion_table(filters, period)
        window = {"entered_from": period.start.isoformat(), "entered_until": period.end.isoformat()}
        links = [
            (
                _drill_url(("people", {**filters.query(), "entered": row.from_stage, **window})),
                _drill_url(
                    ("people", {**filters.query(), "entered": row.from_stage, "reached": row.to_stage, **window})
                ),
            )
            for row in rows
        ]
        return {"rows": list(zip(rows, links, strict=True))}
    if page == "trends":
        rows = selectors.trends(filters, period)
        for row in rows:
            month = row["month"]
            window = {"entered_from": month.start.isoformat(), "entered_until": month.end.isoformat()}
            close = {"close_from": month.start.isoformat(), "close_until": month.end.isoformat()}
            row["mql_url"] = _drill_url(("people", {**filters.query(), "entered": "mql", **window}))
            row["sql_url"] = _drill_url(("people", {**filters.query(), "entered": "sql", **window}))
            row["won_url"] = _drill_url(("opportunities", {**filters.query(), "outcome": "won", **close}))
        return {
            "rows": rows,
            "mql_chart": charts.bars([row["month"].short_label for row in rows], [row["mqls"] for row in rows]),
            "revenue_chart": charts.bars(
                [row["month"].short_label for row in rows], [row["won_revenue"] for row in rows]
            ),
        }
    if page == "cohorts":
        from_stage = request.GET.get("from", "") or "mql"
        stages, rows = selectors.cohort_table(filters, period, from_stage)
        table = []
        for month, counts in rows:
            window = {"entered_from": month.start.isoformat(), "entered_until": month.end.isoformat()}
            cells = []
            for index, (stage, count) in enumerate(zip(stages, counts, strict=True)):
                params = {**filters.query(), "entered": from_stage, **window} | (
                    {"reached": stage.key} if index else {}
                )
                cells.append(
                    {"count": count, "share": kpis.share(count, counts[0]), "url": _drill_url(("people", params))}
                )
            table.append((month, cells))
        return {"stages": stages, "table": table, "from_stage": from_stage, "all_stages": selectors.main_stages()}
    if page == "pipeline":
        as_of = None
        if request.GET.get("as_of"):
            try:
                as_of = dt.date.fromisoformat(request.GET["as_of"])
            except ValueError:
                messages.error(request, "as_of: expected a date as YYYY-MM-DD.")
        cells, day = selectors.pipeline(filters, as_of)
        for cell in cells:
            cell_query = {
                **filters.query(),
                "status": "open",
                "stage": cell.stage,
                "forecast_category": cell.forecast_category,
            }
            cell.__dict__["url"] = _drill_url(("opportunities", cell_query)) if day == timezone.localdate() else ""
        totals = {
            "count": sum(cell.count for cell in cells),
            "amount": sum(cell.amount for cell in cells),
            "weighted": sum(cell.weighted_amount for cell in cells),
        }
        return {
            "cells": cells,
            "day": day,
            "as_of": as_of,
            "totals": totals,
            "chart": charts.bars(
                [f"{cell.stage_name} · {cell.forecast_category}" for cell in cells], [cell.amount for cell in cells]
            ),
        }
    raise Http404("No such analysis.")


@login_required
@require_GET
def analysis(request, page: str):
    _check(request)
    if page not in ANALYSIS_PAGES:
        raise Http404("No such analysis.")
    today = timezone.localdate()
    period, filters = _period(request, today), _filters(request)
    context = _base_context(request, period, filters, today)
    context.update(
        {"page": page, "title": ANALYSIS_PAGES[page], "data": _analysis_data(page, filters, period, request)}
    )
    template = f"analytics/_{page}.html" if request.htmx else "analytics/analysis.html"
    return render(request, template, context)


def _csv_rows(chart: str, filters, period: Period, request, today: dt.date) -> list[list]:
    if chart == "scorecard":
        context = scorecard_context(filters, period, today, wait_for_history=True)
        rows = [["kpi", "period", "value"]]
        for view in context["tiles"]:
            for label, value in view["series"]:
                rows.append([view["tile"].label, label, "" if value is None else value])
        return rows
    data = _analysis_data(chart, filters, period, request)
    if chart == "funnel":
        return [["stage", "reached", "share_of_cohort"]] + [
            [row.name, row.reached, row.share_of_cohort] for row, _ in data["rows"]
        ]
    if chart == "conversion":
        rows = [
            [
                "from",
                "to",
                "cohort",
                "reached",
                "rate",
                "median_days",
                "p75_days",
                "reached_within_30_days",
                "flow_rate",
            ]
        ]
        for row, _ in data["rows"]:
            c = row.conversion
            rows.append(
                [
                    row.from_stage,
                    row.to_stage,
                    c.cohort,
                    c.reached,
                    c.rate,
                    c.median_days,
                    c.p75_days,
                    row.within_30.reached,
                    row.flow_rate,
                ]
            )
        return rows
    if chart == "trends":
        return [["month", "mqls", "sqls", "won", "won_revenue", "win_rate"]] + [
            [row["month"].key, row["mqls"], row["sqls"], row["won"], row["won_revenue"], row["win_rate"]]
            for row in data["rows"]
        ]
    if chart == "cohorts":
        rows = [["month", *[stage.key for stage in data["stages"]]]]
        rows += [[month.key, *[cell["count"] for cell in cells]] for month, cells in data["table"]]
        return rows
    rows = [["stage", "forecast_category", "count", "amount", "weighted_amount"]]
    rows += [
        [cell.stage, cell.forecast_category, cell.count, cell.amount, cell.weighted_amount] for cell in data["cells"]
    ]
    return rows


@login_required
@require_GET
def chart_csv(request, chart: str):
    """The data behind a chart or table, as CSV (text cells that look like formulas are neutralised)."""
    _check(request)
    if chart != "scorecard" and chart not in ANALYSIS_PAGES:
        raise Http404("No such chart.")
    today = timezone.localdate()
    period, filters = _period(request, today), _filters(request)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in _csv_rows(chart, filters, period, request, today):
        writer.writerow(
            [neutralise(value) if isinstance(value, str) else ("" if value is None else value) for value in row]
        )
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="scorecard-{chart}-{period.key.replace("..", "_")}.csv"'
    return response


@login_required
def targets(request):
    """Revenue targets: everyone reads them; RevOps and leadership set them."""
    _check(request)
    can_edit = permissions.can_set_revenue_target(request.user)
    form = RevenueTargetForm(request.POST or None)
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied("Only RevOps and leadership set the revenue target.")
        if form.is_valid():
            try:
                services.revenue_target_set(by=request.user, **form.cleaned_data)
            except ValidationError as error:
                for field, problems in error.message_dict.items():
                    form.add_error(field if field in form.fields else None, problems)
            else:
                messages.success(request, "Revenue target saved.")
                return redirect("analytics:targets")
    return render(
        request,
        "analytics/targets.html",
        {"targets": RevenueTarget.objects.select_related("updated_by")[:50], "form": form, "can_edit": can_edit},
    )


@login_required
@require_POST
def saved_view_create(request):
    _check(request)
    page = request.POST.get("page", "scorecard")
    try:
        view = services.saved_view_create(
            by=request.user,
            name=request.POST.get("name", ""),
            page=page,
            query=request.POST.get("query", ""),
            is_shared=request.POST.get("is_shared") == "1",
        )
    except ValidationError as error:
        for field, problems in error.message_dict.items():
            messages.error(request, f"{field}: {' '.join(problems)}")
        return redirect(_page_url(page, request.POST.get("query", "")))
    messages.success(request, f"Saved the view '{view.name}'" + (", shared with everyone." if view.is_shared else "."))
    return redirect(_page_url(view.page, view.query))


def _page_url(page: str, query: str) -> str:
    base = reverse("analytics:scorecard") if page == "scorecard" else reverse("analytics:analysis", args=[page])
    return base + (f"?{query}" if query else "")


@login_required
@require_GET
def saved_view_open(request, view_id: int):
    _check(request)
    view = get_object_or_404(SavedView, pk=view_id)
    if not (view.is_shared or view.owner_id == request.user.pk):
        raise PermissionDenied("This view is private to its owner.")
    return redirect(_page_url(view.page if view.page in (*ANALYSIS_PAGES, "scorecard") else "scorecard", view.query))


@login_required
@require_POST
def saved_view_delete(request, view_id: int):
    view = get_object_or_404(SavedView, pk=view_id)
    services.saved_view_delete(by=request.user, view=view)
    messages.success(request, f"Deleted the view '{view.name}'.")
    return redirect("analytics:scorecard")


@login_required
@require_POST
def digest_subscription(request):
    """Subscribe to the weekly digest (of a saved view or the whole scorecard), or unsubscribe."""
    _check(request)
    if request.POST.get("action") == "unsubscribe":
        services.digest_unsubscribe(user=request.user)
        messages.success(request, "You will no longer receive the weekly scorecard digest.")
    else:
        view_id = request.POST.get("view")
        view = get_object_or_404(SavedView, pk=view_id) if view_id else None
        services.digest_subscribe(user=request.user, view=view)
        messages.success(request, "You will receive the scorecard digest every Monday.")
    return redirect("analytics:scorecard")
