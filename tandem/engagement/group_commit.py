"""Group commit: the single events of concurrent requests stored in one transaction.

A commit waits for the disk (a few milliseconds here), so a process that commits each small
request on its own is bounded by the disk's flush rate, not by its CPU. `EventWriter` keeps one
thread per process that takes every request queued since its last commit, stores their events
in one transaction, and releases each waiting request with its own result once that transaction
is committed: nothing is acknowledged before it is on disk. While one commit waits for the disk,
the next group gathers, so groups grow with the load and no request waits on a timer.

Each request gets the answer it would have had alone: its own rejections, and its own stored and
duplicate counts (a client event id sent by two requests of one group is stored once, for the
first). If the shared transaction fails, each request of the group is stored again on its own,
so one request's fault never becomes another's.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass, field

from django.db import close_old_connections, transaction

from tandem.engagement.ingest import COLUMNS, CheckedEvents, Rejection
from tandem.engagement.services import StoreResult

logger = logging.getLogger(__name__)

WAIT_SECONDS = 60


class WriterUnavailable(RuntimeError):
    """The shared commit did not finish in time; the events may or may not be stored."""


@dataclass
class _Pending:
    checked: CheckedEvents
    key: Hashable  # requests with the same key may be stored by one call of `store`
    store: Callable[[CheckedEvents], StoreResult]  # stores checked events (in the open transaction)
    alone: Callable[[], StoreResult]  # checks and stores this request's events in a transaction of its own
    result: StoreResult | None = None
    error: BaseException | None = None
    done: Future = field(default_factory=Future)


class EventWriter:
    """One writer thread per process; what `submit` returns is done once the events are committed."""

    def __init__(self):
        self._queue: list[_Pending] = []
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def submit(
        self,
        *,
        checked: CheckedEvents,
        key: Hashable,
        store: Callable[[CheckedEvents], StoreResult],
        alone: Callable[[], StoreResult],
    ) -> Future:
        """Queue `checked` for the next shared commit; the future's result is the request's StoreResult."""
        pending = _Pending(checked=checked, key=key, store=store, alone=alone)
        with self._condition:
            self._queue.append(pending)
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                # Started on first use, so each server process (forked or not) has its own.
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="event-writer", daemon=True)
                self._thread.start()
            self._condition.notify()
        return pending.done

    def store(self, **pending) -> StoreResult:
        """Store with whatever else is queued; returns once committed (or raises)."""
        try:
            return self.submit(**pending).result(WAIT_SECONDS)
        except TimeoutError:
            raise WriterUnavailable("the shared commit did not finish in time") from None

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._queue:
                    self._condition.wait()
                group, self._queue = self._queue, []
            try:
                write_group(group)
            except BaseException as error:  # noqa: BLE001 - handed to the waiting requests
                for pending in group:
                    if pending.result is None and pending.error is None:
                        pending.error = error
            finally:
                for pending in group:
                    if pending.error is not None:
                        pending.done.set_exception(pending.error)
                    else:
                        pending.done.set_result(pending.result)
                close_old_connections()


def write_group(group: list[_Pending]) -> None:
    """Store the events of every request of `group` in one transaction and set each one's result."""
    by_key: dict[Hashable, list[_Pending]] = {}
    for pending in group:
        by_key.setdefault(pending.key, []).append(pending)
    try:
        if len(by_key) == 1:
            # The usual case, one key: the store call's own transaction is the shared one.
            outcomes = [_store_together(group)]
        else:
            with transaction.atomic():
                outcomes = [_store_together(members) for members in by_key.values()]
    except Exception:
        logger.warning("A shared commit of %d requests failed; storing each on its own", len(group), exc_info=True)
        for pending in group:
            try:
                pending.result = pending.alone()
            except Exception as error:  # noqa: BLE001 - handed to the waiting request
                pending.error = error
        return
    # Committed: only now does any request learn its result.
    for outcome in outcomes:
        for pending, result in outcome:
            pending.result = result


def _store_together(members: list[_Pending]) -> list[tuple[_Pending, StoreResult]]:
    if len(members) == 1:
        return [(members[0], members[0].store(members[0].checked))]
    merged = CheckedEvents()
    owners: list[tuple[int, int]] = []  # each merged event's request and position in that request
    results = []
    seen: set[str] = set()
    for number, pending in enumerate(members):
        checked = pending.checked
        result = StoreResult(
            received=len(checked) + len(checked.rejected) + checked.duplicates_in_batch,
            duplicates=checked.duplicates_in_batch,
            rejected=list(checked.rejected),
        )
        results.append(result)
        for position in range(len(checked)):
            client_event_id = checked.client_event_id[position]
            if client_event_id is not None:
                if client_event_id in seen:
                    result.duplicates += 1  # sent by two requests at once: stored for the first
                    continue
                seen.add(client_event_id)
            for name in COLUMNS:
                getattr(merged, name).append(getattr(checked, name)[position])
            merged.index.append(len(owners))
            owners.append((number, checked.index[position]))
    keys = list(merged.client_event_id)
    shared = members[0].store(merged)
    refused = set()
    for rejection in shared.rejected:
        number, position = owners[rejection.index]
        results[number].rejected.append(
            Rejection(position, rejection.field, rejection.reason, rejection.client_event_id)
        )
        refused.add(rejection.index)
    for index, (number, _position) in enumerate(owners):
        if index in refused:
            continue
        if keys[index] is not None and keys[index] in shared.already_stored:
            results[number].duplicates += 1
        else:
            results[number].stored += 1
    return list(zip(members, results, strict=True))
