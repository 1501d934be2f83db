"""Single events of concurrent requests stored in one shared commit, and the WSGI entry that uses it."""

import datetime as dt
import io
import json
import threading

import pytest
from django.db import IntegrityError

from tandem.audit.actors import Actor
from tandem.crm.tests.factories import make_person
from tandem.engagement.group_commit import EventWriter, _Pending, write_group
from tandem.engagement.ingest import Limits, events_check
from tandem.engagement.ingestion_views import EventsApplication
from tandem.engagement.models import Touchpoint, TouchpointKey
from tandem.engagement.selectors import channel_classifier
from tandem.engagement.services import events_store
from tandem.integrations.services import token_create

SYSTEM = Actor.system("test")


def _event(client_event_id=None, **fields):
    event = {"type": "page_view", "anonymous_id": "visitor-1", "occurred_at": dt.datetime.now(dt.UTC).isoformat()}
    if client_event_id is not None:
        event["client_event_id"] = client_event_id
    return {**event, **fields}


def _pending(*events, key="website"):
    checked = events_check(list(events), now=dt.datetime.now(dt.UTC), limits=Limits(), classifier=channel_classifier())
    return _Pending(
        checked=checked,
        key=key,
        store=lambda shared: events_store(checked=shared, by=SYSTEM),
        alone=lambda: events_store(
            checked=events_check(
                list(events), now=dt.datetime.now(dt.UTC), limits=Limits(), classifier=channel_classifier()
            ),
            by=SYSTEM,
        ),
    )


def _answer(pending):
    return (pending.result.stored, pending.result.duplicates, [r.as_dict() for r in pending.result.rejected])


@pytest.mark.django_db
def test_each_request_of_a_shared_commit_gets_its_own_answer():
    _store_first = events_store(
        checked=events_check([_event("old")], now=dt.datetime.now(dt.UTC), limits=Limits()), by=SYSTEM
    )
    person = make_person(email="ann@acme.test")
    first = _pending(_event("a"))
    same_id = _pending(_event("a", url="https://www.acme.test/other"))
    resent = _pending(_event("old"))
    unknown_person = _pending(_event("p", person_id=person.pk + 1000))
    two_events = _pending(_event("b"), _event(None, person_id=person.pk, anonymous_id="visitor-2"))
    other_key = _pending(_event("c"), key="warehouse")
    group = [first, same_id, resent, unknown_person, two_events, other_key]

    write_group(group)

    assert [_answer(pending) for pending in group] == [
        (1, 0, []),
        (0, 1, []),
        (0, 1, []),
        (0, 0, [{"index": 0, "field": "person_id", "reason": f"there is no person with id {person.pk + 1000}.",
                 "client_event_id": "p"}]),
        (2, 0, []),
        (1, 0, []),
    ]  # fmt: skip
    assert sorted(TouchpointKey.objects.values_list("client_event_id", flat=True)) == ["a", "b", "c", "old"]
    assert Touchpoint.objects.get(client_event_id="a").url == ""
    assert Touchpoint.objects.filter(person=person).count() == 1
    assert Touchpoint.objects.count() == 5


@pytest.mark.django_db
def test_a_failed_shared_commit_stores_each_request_on_its_own():
    good = _pending(_event("g"))
    broken = _pending(_event("x"))
    calls = []

    def fails(shared):
        calls.append(len(shared))
        raise IntegrityError("a person created meanwhile")

    broken.store = fails
    good.store = fails  # the shared call goes through the first request's store

    write_group([good, broken])

    assert calls == [2]
    assert _answer(good) == (1, 0, [])
    assert _answer(broken) == (1, 0, [])
    assert sorted(Touchpoint.objects.values_list("client_event_id", flat=True)) == ["g", "x"]


@pytest.mark.django_db(transaction=True)
def test_the_writer_thread_answers_concurrent_requests_once_committed():
    writer = EventWriter()
    answers = {}
    # Checked before the threads start: the test database is SQLite's shared in-memory one, where a read
    # running beside the writer's commit fails at once ("table is locked") instead of waiting as a file does.
    pendings = [_pending(_event(f"t{number % 5}")) for number in range(10)]

    def send(number):
        pending = pendings[number]
        result = writer.store(checked=pending.checked, key="website", store=pending.store, alone=pending.alone)
        answers[number] = (result.stored, result.duplicates)

    threads = [threading.Thread(target=send, args=(number,)) for number in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(answers) == list(range(10))
    assert sorted(answers.values()) == [(0, 1)] * 5 + [(1, 0)] * 5
    assert Touchpoint.objects.count() == 5


def _call(application, method, path, body=b"", **headers):
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        **{f"HTTP_{name.upper()}": value for name, value in headers.items()},
    }
    started = {}

    def start_response(status, headers):
        started["status"], started["headers"] = status, dict(headers)

    answer = b"".join(application(environ, start_response))
    return started["status"], started["headers"], answer


@pytest.mark.django_db(transaction=True)
def test_the_wsgi_entry_answers_the_event_paths_and_passes_the_rest_to_django(cast):
    secret = token_create(by=cast.revops, user=cast.revops, name="Website", is_write_key=True).secret

    def django(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"django"]

    application = EventsApplication(django)
    body = json.dumps(_event("w-1")).encode()
    status, headers, answer = _call(application, "POST", "/api/v1/events", body, authorization=f"Bearer {secret}")
    assert (status, json.loads(answer)) == ("201 Created", {"stored": 1, "duplicates": 0})
    assert headers["Content-Length"] == str(len(answer))
    status, _, answer = _call(application, "POST", "/api/v1/events", body, authorization=f"Bearer {secret}")
    assert (status, json.loads(answer)) == ("200 OK", {"stored": 0, "duplicates": 1})
    batch = json.dumps({"events": [_event("w-2"), {"type": "nope", "anonymous_id": "v"}]}).encode()
    status, _, answer = _call(application, "POST", "/api/v1/events/batch", batch, authorization=f"Bearer {secret}")
    assert status == "200 OK"
    assert json.loads(answer)["stored"] == 1
    assert json.loads(answer)["rejected"][0]["field"] == "type"
    status, _, answer = _call(application, "POST", "/api/v1/events", b"{", authorization=f"Bearer {secret}")
    assert status == "422 Unprocessable Entity"
    assert json.loads(answer)["detail"][0]["field"] == "body"
    status, _, _ = _call(application, "POST", "/api/v1/events", body, authorization="Bearer wrong")
    assert status == "401 Unauthorized"
    status, headers, _ = _call(application, "GET", "/api/v1/events")
    assert (status, headers["Allow"]) == ("405 Method Not Allowed", "POST, OPTIONS")
    assert _call(application, "GET", "/people/") == ("200 OK", {"Content-Type": "text/plain"}, b"django")
    assert sorted(Touchpoint.objects.values_list("client_event_id", flat=True)) == ["w-1", "w-2"]


def _asgi_call(application, method, path, body=b"", **headers):
    import asyncio

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": b"",
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers.items()],
    }
    messages = [
        {"type": "http.request", "body": body[:5], "more_body": True},
        {"type": "http.request", "body": body[5:]},
    ]
    sent = []

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    asyncio.run(application(scope, receive, send))
    start, answer = sent
    return start["status"], dict(start["headers"]), answer["body"]


@pytest.mark.django_db(transaction=True)
def test_the_asgi_entry_answers_the_event_paths_and_passes_the_rest_on(cast):
    from tandem.engagement.ingestion_views import EventsASGIApplication

    secret = token_create(by=cast.revops, user=cast.revops, name="Website", is_write_key=True).secret

    async def other(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"django"})

    application = EventsASGIApplication(other)
    body = json.dumps(_event("a-1")).encode()
    auth = {"authorization": f"Bearer {secret}"}
    status, headers, answer = _asgi_call(application, "POST", "/api/v1/events", body, **auth)
    assert (status, json.loads(answer)) == (201, {"stored": 1, "duplicates": 0})
    assert headers[b"content-length"] == str(len(answer)).encode()
    # The key is now remembered: this one is checked in the event loop itself.
    status, _, answer = _asgi_call(application, "POST", "/api/v1/events", body, **auth)
    assert (status, json.loads(answer)) == (200, {"stored": 0, "duplicates": 1})
    status, _, answer = _asgi_call(application, "POST", "/api/v1/events", json.dumps(_event("a-2")).encode(), **auth)
    assert (status, json.loads(answer)) == (201, {"stored": 1, "duplicates": 0})
    status, _, answer = _asgi_call(application, "POST", "/api/v1/events", b'{"type": 1}', **auth)
    assert status == 422
    assert json.loads(answer)["detail"][0]["field"] == "type"
    batch = json.dumps({"events": [_event("a-3"), _event("a-1")]}).encode()
    status, _, answer = _asgi_call(application, "POST", "/api/v1/events/batch", batch, **auth)
    assert (status, json.loads(answer)["stored"], json.loads(answer)["duplicates"]) == (200, 1, 1)
    status, _, _ = _asgi_call(application, "POST", "/api/v1/events", body, authorization="Bearer wrong")
    assert status == 401
    assert _asgi_call(application, "GET", "/people/") == (200, {b"content-type": b"text/plain"}, b"django")
    assert sorted(Touchpoint.objects.values_list("client_event_id", flat=True)) == ["a-1", "a-2", "a-3"]


@pytest.mark.django_db(transaction=True)
def test_anonymous_events_stored_outside_a_transaction_give_the_same_results():
    from tandem.engagement.models import Visitor

    person = make_person(email="bo@acme.test")
    Visitor.objects.create(anonymous_id="known", person=person, identified_at=dt.datetime.now(dt.UTC))
    events = [_event("k-1", anonymous_id="known"), _event("k-2", anonymous_id="stranger"), _event("k-1")]
    checked = events_check(events, now=dt.datetime.now(dt.UTC), limits=Limits(), classifier=channel_classifier())

    result = events_store(checked=checked, by=SYSTEM)

    assert (result.stored, result.duplicates, result.person_ids) == (2, 1, {person.pk})
    assert dict(Touchpoint.objects.values_list("client_event_id", "person_id")) == {"k-1": person.pk, "k-2": None}
    again = events_store(checked=events_check(events[:2], now=dt.datetime.now(dt.UTC), limits=Limits()), by=SYSTEM)
    assert (again.stored, again.duplicates, again.already_stored) == (0, 2, {"k-1", "k-2"})
    assert Touchpoint.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_events_outside_a_transaction_wait_for_the_disk_even_if_the_session_would_not():
    from django.db import connection

    from tandem.engagement import services

    if connection.vendor != "postgresql":
        pytest.skip("synchronous_commit is PostgreSQL's")
    connection.ensure_connection()
    services._durable_connections.discard(connection.connection)
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO off")

    result = events_store(
        checked=events_check([_event("d-1")], now=dt.datetime.now(dt.UTC), limits=Limits()), by=SYSTEM
    )

    assert result.stored == 1
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"


@pytest.mark.django_db
def test_a_large_batch_stores_every_column_whether_its_values_repeat_or_not():
    person = make_person(email="cy@acme.test")
    moment = dt.datetime.now(dt.UTC).replace(microsecond=0)
    events = [
        _event(
            f"big-{number}",
            anonymous_id=f"visitor-{number % 3}",
            occurred_at=(moment - dt.timedelta(minutes=number % 2)).isoformat(),
            url=f"https://www.acme.test/{number}",
            utm_source="google",
            properties={"n": number} if number % 10 == 0 else {},
            **({"person_id": person.pk} if number == 5 else {}),
        )
        for number in range(80)
    ]
    checked = events_check(events, now=dt.datetime.now(dt.UTC), limits=Limits(), classifier=channel_classifier())

    result = events_store(checked=checked, by=SYSTEM)

    assert (result.stored, result.duplicates) == (80, 0)
    rows = {
        row["client_event_id"]: row
        for row in Touchpoint.objects.values(
            "client_event_id", "anonymous_id", "occurred_at", "url", "utm_source", "utm_term", "properties", "person_id"
        )
    }
    assert len(rows) == 80
    assert rows["big-7"]["anonymous_id"] == "visitor-1"
    assert rows["big-7"]["occurred_at"] == moment - dt.timedelta(minutes=1)
    assert rows["big-8"]["occurred_at"] == moment
    assert rows["big-7"]["url"] == "https://www.acme.test/7"
    assert {row["utm_source"] for row in rows.values()} == {"google"}
    assert {row["utm_term"] for row in rows.values()} == {""}
    assert rows["big-30"]["properties"] == {"n": 30}
    assert rows["big-31"]["properties"] == {}
    assert rows["big-5"]["person_id"] == person.pk
    again = events_store(checked=events_check(events, now=dt.datetime.now(dt.UTC), limits=Limits()), by=SYSTEM)
    assert (again.stored, again.duplicates) == (0, 80)
