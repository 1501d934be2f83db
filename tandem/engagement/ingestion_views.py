"""The event collection endpoints: POST /api/v1/events and /api/v1/events/batch.

They are answered before Django's request handling: `EventsApplication` wraps the WSGI
application the server runs and takes these two paths straight from the WSGI environment, so an
event costs no request object, session, CSRF or URL resolution: check the key, read the body,
check the events, store them, answer. `EventIngestionMiddleware`, first in the middleware list,
gives the same answers through Django (the test client, `runserver`). Every error is JSON naming
the field at fault, as in the rest of the API.

Single events sent through the WSGI application are stored by the process's `EventWriter`:
concurrent requests share one transaction and one commit, and each is answered once that commit
is done. Batches are stored by their own request, one transaction each.

Keys: a public write key (may only send events; browsers may send from its allowed origins) or
an API token, as `Authorization: Bearer <key>` or, for browsers, `?key=<write key>`. Each key has
its own rate budget per minute. Authenticated keys are remembered per process for 10 seconds,
so a revoked key stops working within 10 seconds everywhere.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qs

import orjson
from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.base import BaseCache
from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError, close_old_connections
from django.http import HttpResponse

from tandem.audit.actors import Actor, ActorType
from tandem.engagement.group_commit import WAIT_SECONDS, EventWriter
from tandem.engagement.ingest import CheckedEvents, Limits, events_check
from tandem.engagement.permissions import can_send_events
from tandem.engagement.selectors import channel_classifier, classifier_cache
from tandem.engagement.services import StoreResult, events_store
from tandem.integrations.models import ApiToken
from tandem.integrations.services import token_authenticate, token_rate_check

logger = logging.getLogger(__name__)

KEY_CACHE_SECONDS = 10
ALLOWED_METHODS = "POST, OPTIONS"
ALLOWED_HEADERS = "Authorization, Content-Type"

_keys: dict[str, tuple[ApiToken, float]] = {}
_origins: tuple[frozenset[str], float] = (frozenset(), -1e9)


@dataclass
class EventRequest:
    """What the endpoints read of a request, from Django's request or straight from WSGI."""

    method: str
    path: str
    authorization: str
    origin: str | None
    query: str  # the raw query string
    content_length: str
    read_body: Callable[[int], bytes]  # reads the body, refusing more than the limit

    def key(self) -> str:
        if "key=" not in self.query:
            return ""
        return parse_qs(self.query).get("key", [""])[-1].strip()


@dataclass
class Answer:
    """A response: status, JSON body and headers (Content-Type and Content-Length included)."""

    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)


def _json(status: int, payload, origin: str | None = None, **headers) -> Answer:
    body = orjson.dumps(payload)
    answer = Answer(status, body, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    if origin:
        answer.headers += [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
    answer.headers += [(name.replace("_", "-"), value) for name, value in headers.items()]
    return answer


def _error(status: int, detail, origin: str | None = None, **headers) -> Answer:
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


_counters: list[BaseCache] = []


def _rate_counters() -> BaseCache:
    """One default-cache client for the whole process: Django's `cache` makes one per thread or task,
    and in the event loop every request is a task of its own."""
    if not _counters:
        _counters.append(caches.create_connection(DEFAULT_CACHE_ALIAS))
    return _counters[0]


def _secret(request: EventRequest) -> str:
    header = request.authorization
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return request.key()


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


def preflight(request: EventRequest) -> Answer:
    """Answer a browser's CORS preflight: which origins, methods and headers may send events."""
    origin = request.origin or ""
    secret = request.key()
    token = _token(secret) if secret else None
    allowed = (
        token.origins.__contains__(origin.rstrip("/").lower())
        if token is not None and token.is_write_key
        else _origin_allowed_anywhere(origin)
    )
    if not origin or not allowed:
        return _error(403, f"The origin '{origin[:200]}' may not send events; add it to a write key's allowed origins.")
    return Answer(
        204,
        b"",
        [
            ("Content-Length", "0"),
            ("Access-Control-Allow-Origin", origin),
            ("Access-Control-Allow-Methods", ALLOWED_METHODS),
            ("Access-Control-Allow-Headers", ALLOWED_HEADERS),
            ("Access-Control-Max-Age", "86400"),
            ("Vary", "Origin"),
        ],
    )


def _authorise(request: EventRequest) -> tuple[ApiToken | None, str | None, Answer | None]:
    """The key sending the request and the origin to answer, or the error response."""
    origin = request.origin or None
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
    wait = token_rate_check(token, counters=_rate_counters())
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


class _Refused(Exception):
    def __init__(self, answer: Answer):
        self.answer = answer


def _body(request: EventRequest, origin, limit: int):
    length = request.content_length or "0"
    too_big = f"The request body is larger than the limit of {limit} bytes ({limit // 1024} KB)."
    if length.isdigit() and int(length) > limit:
        raise _Refused(_error(413, too_big, origin))
    try:
        raw = request.read_body(limit)
    except RequestDataTooBig:
        raise _Refused(_error(413, f"The request body is larger than the limit of {limit} bytes.", origin)) from None
    if len(raw) > limit:
        raise _Refused(_error(413, too_big, origin))
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise _Refused(_error(422, [{"field": "body", "message": f"Malformed JSON: {error}."}], origin)) from None


def _actor(token: ApiToken) -> Actor:
    label = f"{token.user} via {'write key' if token.is_write_key else 'token'} '{token.name}'"
    return Actor(type=ActorType.API, user=token.user, label=label[:190])


@dataclass
class _ToStore:
    """A single event checked and ready to store, with what its answer needs."""

    events: list
    checked: CheckedEvents
    token: ApiToken
    default_channel: str
    origin: str | None

    def _store_shared(self, shared: CheckedEvents) -> StoreResult:
        return events_store(checked=shared, by=_actor(self.token), default_channel=self.default_channel)

    def submit(self):
        """Queue for the process's shared commit; a future of the StoreResult."""
        return writer.submit(
            checked=self.checked,
            key=(self.token.pk, self.default_channel),
            store=lambda shared: events_store(
                checked=shared, by=_actor(self.token), default_channel=self.default_channel
            ),
            alone=lambda: _check_and_store(self.events, self.token),
        )


def _single_prepare(request: EventRequest) -> Answer | _ToStore:
    """Everything of a single event before storing it: key, body, checks; or the answer that ends it."""
    token, origin, refused = _authorise(request)
    if refused:
        return refused
    try:
        event = _body(request, origin, settings.TANDEM_EVENTS_MAX_BATCH_BYTES)
    except _Refused as refusal:
        return refusal.answer
    checked, default_channel = _check([event])
    if not len(checked):
        return _single_answer(events_store(checked=checked, by=_actor(token)), origin)
    return _ToStore([event], checked, token, default_channel, origin)


def _single_answer(result: StoreResult, origin: str | None) -> Answer:
    if result.rejected:
        rejection = result.rejected[0]
        return _error(422, [{"field": rejection.field, "message": rejection.reason}], origin)
    return _json(201 if result.stored else 200, {"stored": result.stored, "duplicates": result.duplicates}, origin)


def event_single(request: EventRequest, *, share_commits: bool = False) -> Answer:
    """POST /api/v1/events: one event; 201 when stored, 200 when its client event id was stored before."""
    prepared = _single_prepare(request)
    if isinstance(prepared, Answer):
        return prepared
    if share_commits:
        result = prepared.submit().result(WAIT_SECONDS)
    else:
        result = _check_and_store(prepared.events, prepared.token)
    return _single_answer(result, prepared.origin)


def event_batch(request: EventRequest) -> Answer:
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
        return refusal.answer
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


def _check(events: list) -> tuple[CheckedEvents, str]:
    """The events checked against the contract's channel rules in force, and its default channel."""
    classifier = channel_classifier()
    checked = events_check(events, now=dt.datetime.now(dt.UTC), limits=_limits(), classifier=classifier)
    return checked, classifier.rules.default


def _check_and_store(events: list, token: ApiToken) -> StoreResult:
    """Check and store a batch; once more if a concurrent batch created the same new person first."""
    for attempt in range(2):
        checked, default_channel = _check(events)
        try:
            return events_store(checked=checked, by=_actor(token), default_channel=default_channel)
        except IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")


writer = EventWriter()

ROUTES = {
    "/api/v1/events": event_single,
    "/api/v1/events/": event_single,
    "/api/v1/events/batch": event_batch,
    "/api/v1/events/batch/": event_batch,
}


def respond(request: EventRequest, *, share_commits: bool = False) -> Answer | None:
    """The answer to a request for one of the event paths; None for any other path."""
    view = ROUTES.get(request.path)
    if view is None:
        return None
    if request.method == "OPTIONS":
        return preflight(request)
    if request.method != "POST":
        answer = _error(405, f"{request.method} is not allowed here; send events with POST.")
        answer.headers.append(("Allow", ALLOWED_METHODS))
        return answer
    if view is event_single:
        return event_single(request, share_commits=share_commits)
    return view(request)


class EventIngestionMiddleware:
    """Answers the event endpoints before the rest of the middleware runs (no session, no CSRF: keys only)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info not in ROUTES:
            return self.get_response(request)
        meta = request.META
        answer = respond(
            EventRequest(
                method=request.method,
                path=request.path_info,
                authorization=meta.get("HTTP_AUTHORIZATION", ""),
                origin=meta.get("HTTP_ORIGIN"),
                query=meta.get("QUERY_STRING", ""),
                content_length=meta.get("CONTENT_LENGTH") or "",
                read_body=lambda limit: request.body,
            )
        )
        response = HttpResponse(answer.body, status=answer.status)
        for name, value in answer.headers:
            response[name] = value
        return response


def _wsgi_reader(environ) -> Callable[[int], bytes]:
    def read(limit: int) -> bytes:
        stream = environ["wsgi.input"]
        length = environ.get("CONTENT_LENGTH") or ""
        return stream.read(int(length)) if length.isdigit() else stream.read(limit + 1)

    return read


_STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}


def _answer_here(request: EventRequest) -> Answer:
    """The answer, with single events stored in the shared commit; never raises."""
    try:
        return respond(request, share_commits=True)
    except Exception:
        logger.exception("Storing events failed")
        return _error(500, "The events could not be stored; nothing was acknowledged, so send them again.")
    finally:
        # What Django does at the end of each request: drop a connection that broke or aged out.
        close_old_connections()


class EventsApplication:
    """The WSGI application: the event paths answered here, every other request passed to Django."""

    def __init__(self, application):
        self.application = application

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path not in ROUTES:
            return self.application(environ, start_response)
        answer = _answer_here(
            EventRequest(
                method=environ["REQUEST_METHOD"],
                path=path,
                authorization=environ.get("HTTP_AUTHORIZATION", ""),
                origin=environ.get("HTTP_ORIGIN"),
                query=environ.get("QUERY_STRING", ""),
                content_length=environ.get("CONTENT_LENGTH") or "",
                read_body=_wsgi_reader(environ),
            )
        )
        start_response(_STATUS_LINES[answer.status], answer.headers)
        return [answer.body]


def _prepared_from_memory(request: EventRequest) -> bool:
    """Whether checking this request reads nothing from the database (its key and the rules are cached)."""
    cached = _keys.get(_secret(request))
    return cached is not None and cached[1] > time.monotonic() + 1 and classifier_cache.is_fresh()


def _prepare_here(request: EventRequest, *, touched_database: bool = True) -> Answer | _ToStore:
    """A single event checked and laid out for the shared commit; never raises.

    A check that read the database ends as Django ends a request: a connection that broke or aged
    out is dropped. One answered from memory (`touched_database=False`) skips that upkeep.
    """
    try:
        return _single_prepare(request)
    except Exception:
        logger.exception("Checking an event failed")
        return _error(500, "The event could not be stored; nothing was acknowledged, so send it again.")
    finally:
        if touched_database:
            close_old_connections()


class EventsASGIApplication:
    """The ASGI application `tandem serve` runs: the event paths answered here, the rest passed on.

    The event loop reads the request and writes the answer; checking and storing run on threads
    (the database is reached synchronously): batches on a few threads of their own, single events
    checked on a few others and then stored by the process's shared commit, which no thread waits for.
    """

    def __init__(self, application, *, batch_threads: int = 4, single_threads: int = 4):
        self.application = application
        self.batch_threads = ThreadPoolExecutor(max_workers=batch_threads, thread_name_prefix="event-batches")
        self.single_threads = ThreadPoolExecutor(max_workers=single_threads, thread_name_prefix="single-events")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] not in ROUTES:
            return await self.application(scope, receive, send)
        headers = {}
        for name, value in scope["headers"]:
            if name in (b"authorization", b"origin", b"content-length"):
                headers[name] = value.decode("latin-1")
        limit = settings.TANDEM_EVENTS_MAX_BATCH_BYTES
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            if size <= limit:  # past the limit the rest is read but not kept: the answer is 413
                chunks.append(chunk)
            size += len(chunk)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        request = EventRequest(
            method=scope["method"],
            path=scope["path"],
            authorization=headers.get(b"authorization", ""),
            origin=headers.get(b"origin"),
            query=scope.get("query_string", b"").decode("latin-1"),
            content_length=headers.get(b"content-length", ""),
            read_body=lambda limit: body,
        )
        loop = asyncio.get_running_loop()
        if ROUTES[scope["path"]] is event_single and request.method == "POST":
            # Checked here when the key and the channel rules are in memory (no database to wait
            # for), else on a thread; the wait for the shared commit holds no thread either way.
            if _prepared_from_memory(request):
                answer = _prepare_here(request, touched_database=False)
            else:
                answer = await loop.run_in_executor(self.single_threads, _prepare_here, request)
            if isinstance(answer, _ToStore):
                origin = answer.origin
                try:
                    answer = _single_answer(await asyncio.wrap_future(answer.submit()), origin)
                except Exception:
                    logger.exception("Storing an event failed")
                    answer = _error(500, "The event could not be stored; nothing was acknowledged, so send it again.")
        else:
            answer = await loop.run_in_executor(self.batch_threads, _answer_here, request)
        await send(
            {
                "type": "http.response.start",
                "status": answer.status,
                "headers": [
                    (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in answer.headers
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer.body})
        return None
