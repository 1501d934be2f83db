"""The event collection endpoints: POST /api/v1/events and /api/v1/events/batch.

They are answered by `EventIngestionMiddleware`, first in the middleware list, so an event costs
no session, CSRF or URL resolution: check the key, read the body, check the events, store them,
answer. Every error is JSON naming the field at fault, as in the rest of the API.

Keys: a public write key (may only send events; browsers may send from its allowed origins) or
an API token, as `Authorization: Bearer <key>` or, for browsers, `?key=<write key>`. Each key has
its own rate budget per minute. Authenticated keys are remembered per process for 10 seconds,
so a revoked key stops working within 10 seconds everywhere.
"""

from __future__ import annotations

import datetime as dt
import json
import time

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError
from django.http import HttpResponse, JsonResponse

from tandem.audit.actors import Actor, ActorType
from tandem.engagement.ingest import Limits, events_check
from tandem.engagement.permissions import can_send_events
from tandem.engagement.selectors import channel_classifier
from tandem.engagement.services import events_store
from tandem.integrations.models import ApiToken
from tandem.integrations.services import token_authenticate, token_rate_check

KEY_CACHE_SECONDS = 10
ALLOWED_METHODS = "POST, OPTIONS"
ALLOWED_HEADERS = "Authorization, Content-Type"

_keys: dict[str, tuple[ApiToken, float]] = {}
_origins: tuple[frozenset[str], float] = (frozenset(), -1e9)


def _json(status: int, payload, origin: str | None = None, **headers) -> HttpResponse:
    response = JsonResponse(payload, status=status, safe=False)
    response["Content-Length"] = str(len(response.content))  # keep-alive clients need it
    if origin:
        response["Access-Control-Allow-Origin"] = origin
        response["Vary"] = "Origin"
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _error(status: int, detail, origin: str | None = None, **headers) -> HttpResponse:
    return _json(status, {"detail": detail}, origin, **headers)


def _limits() -> Limits:
    return Limits(
        max_age=dt.timedelta(days=settings.TANDEM_EVENTS_MAX_AGE_DAYS),
        max_ahead=dt.timedelta(seconds=settings.TANDEM_EVENTS_MAX_AHEAD_SECONDS),
    )


def _token(secret: str) -> ApiToken | None:
    now = time.monotonic()
    cached = _keys.get(secret)
    if cached is not None and cached[1] > now:
        return cached[0]
    token = token_authenticate(secret)
    if token is not None:
        if len(_keys) > 10_000:
            _keys.clear()
        _keys[secret] = (token, now + KEY_CACHE_SECONDS)
    else:
        _keys.pop(secret, None)
    return token


def _secret(request) -> str:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return request.GET.get("key", "").strip()


def _origin_allowed_anywhere(origin: str) -> bool:
    """Whether some active write key allows this origin (for preflights, which carry no key)."""
    global _origins
    origins, read_at = _origins
    if time.monotonic() - read_at > KEY_CACHE_SECONDS:
        origins = frozenset().union(
            *(token.origins for token in ApiToken.objects.filter(is_write_key=True, revoked_at__isnull=True))
        )
        _origins = (origins, time.monotonic())
    return origin.rstrip("/").lower() in origins


def preflight(request) -> HttpResponse:
    """Answer a browser's CORS preflight: which origins, methods and headers may send events."""
    origin = request.META.get("HTTP_ORIGIN", "")
    secret = request.GET.get("key", "").strip()
    token = _token(secret) if secret else None
    allowed = (
        token.origins.__contains__(origin.rstrip("/").lower())
        if token is not None and token.is_write_key
        else _origin_allowed_anywhere(origin)
    )
    if not origin or not allowed:
        return _error(403, f"The origin '{origin[:200]}' may not send events; add it to a write key's allowed origins.")
    response = HttpResponse(status=204)
    response["Content-Length"] = "0"
    response["Access-Control-Allow-Origin"] = origin
    response["Access-Control-Allow-Methods"] = ALLOWED_METHODS
    response["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
    response["Access-Control-Max-Age"] = "86400"
    response["Vary"] = "Origin"
    return response


def _authorise(request) -> tuple[ApiToken | None, str | None, HttpResponse | None]:
    """The key sending the request and the origin to answer, or the error response."""
    origin = request.META.get("HTTP_ORIGIN") or None
    secret = _secret(request)
    if not secret:
        return (
            None,
            None,
            _error(
                401,
                "Authentication required: send 'Authorization: Bearer <write key or API token>'.",
                WWW_Authenticate="Bearer",
            ),
        )
    token = _token(secret)
    if token is None:
        return None, None, _error(401, "The key is not valid or has been revoked.", WWW_Authenticate="Bearer")
    if origin is not None:
        if not token.is_write_key:
            return None, None, _error(403, "API tokens are secret and may not be used from a browser; use a write key.")
        if origin.rstrip("/").lower() not in token.origins:
            return (
                None,
                None,
                _error(403, f"The origin '{origin[:200]}' is not among this write key's allowed origins."),
            )
    if not token.is_write_key and not can_send_events(token.user):
        return None, None, _error(403, "This token's user may not send events.", origin)
    wait = token_rate_check(token)
    if wait:
        return (
            None,
            None,
            _error(
                429,
                f"Rate limit of {token.rate_limit_per_minute} requests per minute exceeded for key '{token.name}'.",
                origin,
                Retry_After=str(wait),
            ),
        )
    return token, origin, None


def _body(request, origin, limit: int):
    length = request.META.get("CONTENT_LENGTH") or "0"
    if length.isdigit() and int(length) > limit:
        raise _Refused(
            _error(413, f"The request body is larger than the limit of {limit} bytes ({limit // 1024} KB).", origin)
        )
    try:
        raw = request.body
    except RequestDataTooBig:
        raise _Refused(_error(413, f"The request body is larger than the limit of {limit} bytes.", origin)) from None
    if len(raw) > limit:
        raise _Refused(
            _error(413, f"The request body is larger than the limit of {limit} bytes ({limit // 1024} KB).", origin)
        )
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise _Refused(_error(422, [{"field": "body", "message": f"Malformed JSON: {error}."}], origin)) from None


class _Refused(Exception):
    def __init__(self, response):
        self.response = response


def _actor(token: ApiToken) -> Actor:
    label = f"{token.user} via {'write key' if token.is_write_key else 'token'} '{token.name}'"
    return Actor(type=ActorType.API, user=token.user, label=label[:190])


def event_single(request) -> HttpResponse:
    """POST /api/v1/events: one event; 201 when stored, 200 when its client event id was stored before."""
    token, origin, refused = _authorise(request)
    if refused:
        return refused
    try:
        event = _body(request, origin, settings.TANDEM_EVENTS_MAX_BATCH_BYTES)
    except _Refused as refusal:
        return refusal.response
    result = _check_and_store([event], token)
    if result.rejected:
        rejection = result.rejected[0]
        return _error(422, [{"field": rejection.field, "message": rejection.reason}], origin)
    return _json(201 if result.stored else 200, {"stored": result.stored, "duplicates": result.duplicates}, origin)


def event_batch(request) -> HttpResponse:
    """POST /api/v1/events/batch: {"events": [...]}, up to 1,000 events and 1 MB.

    200 lists how many were stored, how many were duplicates and every rejected event (index,
    field, reason); the valid events are stored. 422 when none could be stored.
    """
    token, origin, refused = _authorise(request)
    if refused:
        return refused
    try:
        body = _body(request, origin, settings.TANDEM_EVENTS_MAX_BATCH_BYTES)
    except _Refused as refusal:
        return refusal.response
    events = body.get("events") if type(body) is dict else None
    if type(events) is not list:
        return _error(422, [{"field": "events", "message": 'The body must be {"events": [ ... ]}.'}], origin)
    limit = settings.TANDEM_EVENTS_MAX_BATCH
    if len(events) > limit:
        return _error(
            413,
            [{"field": "events", "message": f"A batch holds at most {limit:,} events; this one has {len(events):,}."}],
            origin,
        )
    if not events:
        return _error(422, [{"field": "events", "message": "The batch is empty."}], origin)
    result = _check_and_store(events, token)
    status = 422 if result.rejected and not result.stored and not result.duplicates else 200
    return _json(status, result.as_dict(), origin)


def _check_and_store(events: list, token: ApiToken):
    """Check and store a batch; once more if a concurrent batch created the same new person first."""
    for attempt in range(2):
        classifier = channel_classifier()
        checked = events_check(events, now=dt.datetime.now(dt.UTC), limits=_limits(), classifier=classifier)
        try:
            return events_store(checked=checked, by=_actor(token), default_channel=classifier.rules.default)
        except IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")


ROUTES = {
    "/api/v1/events": event_single,
    "/api/v1/events/": event_single,
    "/api/v1/events/batch": event_batch,
    "/api/v1/events/batch/": event_batch,
}


class EventIngestionMiddleware:
    """Answers the event endpoints before the rest of the middleware runs (no session, no CSRF: keys only)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        view = ROUTES.get(request.path_info)
        if view is None:
            return self.get_response(request)
        if request.method == "OPTIONS":
            return preflight(request)
        if request.method != "POST":
            response = _error(405, f"{request.method} is not allowed here; send events with POST.")
            response["Allow"] = ALLOWED_METHODS
            return response
        return view(request)
