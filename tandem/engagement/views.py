"""Engagement pages: website tracking settings, the UTM data-quality report, and email webhooks."""

import datetime as dt

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from tandem.engagement import webhooks
from tandem.engagement.ingest import Limits, events_check
from tandem.engagement.ingestion_views import _actor, _token
from tandem.engagement.models import PersonMerge
from tandem.engagement.permissions import can_view_tracking
from tandem.engagement.selectors import (
    channel_classifier,
    channels_section,
    person_sessions,
    snippet_html,
    utm_report,
    write_keys,
)
from tandem.engagement.services import events_store
from tandem.users.permissions import can_manage_tokens

PROVIDERS = ("generic", "sendgrid", "mailgun", "postmark", "ses")


@login_required
@require_GET
def tracking(request):
    """Settings > Website tracking: the snippet to paste, the write keys, and the webhook addresses."""
    if not can_view_tracking(request.user):
        raise PermissionDenied("You may not see the tracking settings.")
    base = request.build_absolute_uri("/").rstrip("/")
    section, version = channels_section()
    return render(
        request,
        "engagement/tracking.html",
        {
            "snippet": snippet_html(key="tdm_XXXXXXXX_(your write key)", base_url=base),
            "write_keys": write_keys(),
            "can_manage_tokens": can_manage_tokens(request.user),
            "webhooks": [
                (provider, f"{base}/hooks/email/{provider}/?key=(API token or write key)") for provider in PROVIDERS
            ],
            "channel_rules": section.get("rules") or [],
            "contract_version": version,
        },
    )


@login_required
@require_GET
def person_visits(request, person_id: int):
    """The person page's panel: their sessions of page views and the people merged into them."""
    from django.shortcuts import get_object_or_404

    from tandem.crm.models import Person

    person = get_object_or_404(Person, pk=person_id)
    return render(
        request,
        "engagement/_visits.html",
        {
            "sessions": person_sessions(person_id=person.pk)[:10],
            "merges": PersonMerge.objects.filter(kept_person=person)[:10],
            "visitor_ids": person.visitors.count(),
        },
    )


def _parse_day(text: str, default: dt.date) -> dt.date:
    try:
        return dt.date.fromisoformat(text) if text else default
    except ValueError:
        return default


@login_required
@require_GET
def utm_quality(request):
    """UTM data quality over a period (default the last 30 days): missing, inconsistent and unknown tags."""
    if not can_view_tracking(request.user):
        raise PermissionDenied("You may not see the UTM report.")
    today = timezone.now().date()
    start = _parse_day(request.GET.get("from", ""), today - dt.timedelta(days=30))
    end = _parse_day(request.GET.get("to", ""), today)
    report = utm_report(
        start=dt.datetime.combine(start, dt.time.min, tzinfo=dt.UTC),
        end=dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC),
    )
    return render(
        request,
        "engagement/utm_quality.html",
        {
            "report": report,
            "start": start,
            "end": end,
            "missing": report.of_kind("missing"),
            "inconsistent": report.of_kind("inconsistent"),
            "unknown": report.of_kind("unknown"),
        },
    )


def _headers(request) -> dict:
    return dict(request.headers.items())


@csrf_exempt
@require_POST
def email_webhook(request, provider: str):
    """POST /hooks/email/<provider>/?key=…: email engagement from a service, each event a touchpoint."""
    if provider not in PROVIDERS:
        return JsonResponse(
            {"detail": f"Unknown provider '{provider[:40]}'; use one of {', '.join(PROVIDERS)}."}, status=404
        )
    secret = request.GET.get("key", "") or request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    token = _token(secret) if secret else None
    if token is None:
        return JsonResponse({"detail": "The key in the webhook address is missing, not valid or revoked."}, status=401)
    body = request.body
    headers = _headers(request)
    try:
        if provider == "sendgrid":
            events = webhooks.sendgrid_events(body, headers, verification_key=settings.TANDEM_SENDGRID_VERIFICATION_KEY)
        elif provider == "mailgun":
            events = webhooks.mailgun_events(body, headers, signing_key=settings.TANDEM_MAILGUN_SIGNING_KEY)
        elif provider == "postmark":
            events = webhooks.postmark_events(body, headers)
        elif provider == "ses":
            events = webhooks.ses_events(body, headers, topic_arns=settings.TANDEM_SES_TOPIC_ARNS)
        else:
            events = webhooks.generic_events(body, headers)
    except webhooks.WebhookRefused as refusal:
        return JsonResponse({"detail": refusal.message}, status=refusal.status)
    if len(events) > settings.TANDEM_EVENTS_MAX_BATCH:
        return JsonResponse({"detail": f"At most {settings.TANDEM_EVENTS_MAX_BATCH:,} events per request."}, status=413)
    # Providers retry late deliveries: their events may be as old as the ingestion window allows.
    limits = Limits(
        max_age=dt.timedelta(days=settings.TANDEM_EVENTS_MAX_AGE_DAYS),
        max_ahead=dt.timedelta(seconds=settings.TANDEM_EVENTS_MAX_AHEAD_SECONDS),
    )
    checked = events_check(events, now=dt.datetime.now(dt.UTC), limits=limits, classifier=channel_classifier())
    result = events_store(checked=checked, by=_actor(token))
    return JsonResponse(result.as_dict(), status=200)
