"""events_ingest: a real Tandem server taking events from a load generator on the same machine.

    python bench/events_ingest.py                        # 60 s batched, 30 s single events
    python bench/events_ingest.py --seconds 20 --single-seconds 10 --workers 3 --threads 4

The server is gunicorn with the same worker class as `tandem serve`, against a PostgreSQL
database of its own (tandem_bench_events, dropped and created each run). The load generator is
raw asyncio HTTP/1.1 over keep-alive connections in this process; request bodies are made from
byte templates, so it spends little of the machine on itself.

1. Batched: `--connections` connections each send batches of 1,000 events for `--seconds`;
   every event has its own client event id. Events per second = events answered as stored /
   wall time. Then the rows are counted: every event sent must be stored exactly once.
2. The same batches are sent again: every answer must say 0 stored, and the row count must not move.
3. Single events: `--single-connections` connections send one event per request for
   `--single-seconds`; requests per second and the p99 latency.

Results: events_ingest_batched_per_s (target 50,000), events_ingest_single_per_s (target 4,000),
events_ingest_single_p99_ms (target 25), each with the counts in its params.
"""

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time

from _common import ROOT, BenchmarkError, discard_result, percentile, write_result

DEFAULT_DATABASE_URL = "postgres://root@127.0.0.1:5432/tandem_bench_events"
BATCHED = "events_ingest_batched_per_s"
SINGLE = "events_ingest_single_per_s"
SINGLE_P99 = "events_ingest_single_p99_ms"
TARGET_BATCHED = 50_000
TARGET_SINGLE = 4_000
TARGET_P99_MS = 25
BATCH_SIZE = 1000


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("TANDEM_BENCH_EVENTS_URL", DEFAULT_DATABASE_URL))
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--single-seconds", type=float, default=30)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--single-connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--skip-single", action="store_true")
    return parser.parse_args(argv)


def recreate_database(database_url: str) -> None:
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    server = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def prepare(database_url: str) -> tuple[str, str]:
    """Migrate the bench database and make a write key with a budget no bench reaches; returns (key, label)."""
    environment = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "tandem.settings"}
    subprocess.run(  # noqa: S603
        [sys.executable, "-m", "tandem.cli", "manage", "migrate", "-v0"], check=True, env=environment, cwd=ROOT
    )
    from _common import database_label, setup_django

    setup_django(database_url)
    from tandem.integrations.services import token_create
    from tandem.users.models import Role, User

    password = "bench-only"  # noqa: S105 - a throwaway database
    user = User.objects.create_user(email="bench@bench.example", password=password, role=Role.REVOPS)
    issued = token_create(by=user, user=user, name="Bench", is_write_key=True, rate_limit_per_minute=100_000_000)
    return issued.secret, database_label()


def start_server(database_url: str, port: int, workers: int, threads: int) -> subprocess.Popen:
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "tandem.settings",
        "TANDEM_LOG_LEVEL": "ERROR",
    }
    environment.pop("REDIS_URL", None)
    environment["TANDEM_WEB_THREADS"] = str(threads)
    command = [
        sys.executable, "-m", "gunicorn", "tandem.asgi:application",
        "--bind", f"127.0.0.1:{port}",
        "--worker-class", "asgi",
        "--workers", str(workers),
        "--keep-alive", "30",
        "--backlog", "2048",
        "--no-control-socket",
    ]  # fmt: skip
    server = subprocess.Popen(command, env=environment, cwd=ROOT, start_new_session=True)  # noqa: S603
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise BenchmarkError(f"the server stopped (exit code {server.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            time.sleep(0.2)
    raise BenchmarkError("the server did not start listening within 60 s")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


EVENT = (
    b'{"type":"page_view","client_event_id":"%s-%d","anonymous_id":"visitor-%d",'
    b'"occurred_at":"%s","url":"https://www.bench.example/product/%d",'
    b'"referrer":"https://www.google.com/","utm_source":"google","utm_medium":"cpc","utm_campaign":"spring-%d"}'
)


class _Answers(asyncio.Protocol):
    """Reads HTTP/1.1 answers off one connection, each handed to the future waiting for it."""

    def __init__(self):
        self.buffer = b""
        self.waiting: asyncio.Future | None = None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buffer[:end]
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if len(self.buffer) < end + 4 + length:
            return
        body, self.buffer = self.buffer[end + 4 : end + 4 + length], self.buffer[end + 4 + length :]
        self.waiting.set_result((int(head[9:12]), body))

    def connection_lost(self, error):
        if self.waiting is not None and not self.waiting.done():
            self.waiting.set_exception(error or ConnectionError("the server closed the connection"))


class Connection:
    """One keep-alive HTTP/1.1 connection that sends POSTs and reads whole answers (a bare protocol:
    the load generator shares the machine with the server, so it spends as little as it can)."""

    def __init__(self, port: int, secret: str):
        self.port = port
        self.head = (
            "Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {secret}\r\nConnection: keep-alive\r\n"
        ).encode()

    async def open(self):
        loop = asyncio.get_running_loop()
        self.transport, self.answers = await loop.create_connection(_Answers, "127.0.0.1", self.port)

    async def post(self, path: bytes, body: bytes) -> tuple[int, bytes]:
        self.answers.waiting = asyncio.get_running_loop().create_future()
        self.transport.write(b"POST %s HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n%s" % (path, self.head, len(body), body))
        return await self.answers.waiting

    def close(self):
        self.transport.close()


def batch_body(prefix: bytes, number: int, occurred_at: bytes) -> bytes:
    first = number * BATCH_SIZE
    events = [EVENT % (prefix, n, n % 50_000, occurred_at, n % 97, n % 7) for n in range(first, first + BATCH_SIZE)]
    return b'{"events":[' + b",".join(events) + b"]}"


async def run_batches(port, secret, *, seconds: float | None, connections: int, batches: int | None, occurred_at):
    """Send numbered batches until `seconds` pass (or `batches` are sent); returns (batches sent, stored, wall s)."""
    counter = iter(range(10**9))
    stored_total = 0
    sent_batches = 0
    started = time.perf_counter()
    deadline = started + seconds if seconds else None

    async def worker():
        nonlocal stored_total, sent_batches
        connection = Connection(port, secret)
        await connection.open()
        try:
            while True:
                number = next(counter)
                if batches is not None and number >= batches:
                    return
                if deadline is not None and time.perf_counter() >= deadline:
                    return
                status, answer = await connection.post(b"/api/v1/events/batch", batch_body(b"b", number, occurred_at))
                if status != 200:
                    raise BenchmarkError(f"batch {number} answered {status}: {answer[:300]!r}")
                result = json.loads(answer)
                if result["rejected"]:
                    raise BenchmarkError(f"batch {number} had rejected events: {result['rejected'][:3]}")
                stored_total += result["stored"]
                sent_batches += 1
        finally:
            connection.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return sent_batches, stored_total, time.perf_counter() - started


async def run_single(port, secret, *, seconds: float, connections: int, occurred_at):
    latencies: list[float] = []
    counter = iter(range(10**9))
    started = time.perf_counter()
    deadline = started + seconds

    async def worker():
        connection = Connection(port, secret)
        await connection.open()
        try:
            while time.perf_counter() < deadline:
                n = next(counter)
                body = EVENT % (b"s", n, n % 50_000, occurred_at, n % 97, n % 7)
                sent = time.perf_counter()
                status, answer = await connection.post(b"/api/v1/events", body)
                latencies.append((time.perf_counter() - sent) * 1000)
                if status != 201:
                    raise BenchmarkError(f"single event {n} answered {status}: {answer[:300]!r}")
        finally:
            connection.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return latencies, time.perf_counter() - started


def count_rows(database_url: str, prefix: str) -> tuple[int, int]:
    import psycopg

    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "SELECT count(*), count(DISTINCT client_event_id) FROM engagement_touchpoint WHERE client_event_id LIKE %s",
            [f"{prefix}-%"],
        ).fetchone()
    return rows[0], rows[1]


def main(argv=None) -> int:
    options = parse_args(argv)
    for name in (BATCHED, SINGLE, SINGLE_P99):
        discard_result(name)
    recreate_database(options.database_url)
    secret, database = prepare(options.database_url)
    import datetime as dt

    occurred_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    server = start_server(options.database_url, options.port, options.workers, options.threads)
    params = {"workers": options.workers, "threads": options.threads, "batch_size": BATCH_SIZE}
    try:
        asyncio.run(run_batches(options.port, secret, seconds=None, connections=1, batches=1, occurred_at=occurred_at))
        # The warm-up batch (number 0) is sent again in the timed run and must count as a duplicate.
        batches, stored, wall = asyncio.run(
            run_batches(
                options.port,
                secret,
                seconds=options.seconds,
                connections=options.connections,
                batches=None,
                occurred_at=occurred_at,
            )
        )
        sent = batches * BATCH_SIZE
        rows, distinct = count_rows(options.database_url, "b")
        print(
            f"batched: {batches} batches, {sent:,} events sent, {stored:,} answered stored, "
            f"{rows:,} rows ({distinct:,} distinct ids) in {wall:.1f} s"
        )
        if rows != sent or distinct != sent or stored != sent - BATCH_SIZE:
            raise BenchmarkError(f"sent {sent:,} events but the table holds {rows:,} rows ({distinct:,} distinct ids)")
        resent_batches, resent_stored, resent_wall = asyncio.run(
            run_batches(
                options.port,
                secret,
                seconds=None,
                connections=options.connections,
                batches=batches,
                occurred_at=occurred_at,
            )
        )
        rows_after, _ = count_rows(options.database_url, "b")
        print(
            f"re-sent: {resent_batches * BATCH_SIZE:,} events in {resent_wall:.1f} s, "
            f"{resent_stored} stored, {rows_after:,} rows"
        )
        if resent_stored or rows_after != rows:
            raise BenchmarkError(f"re-sending stored {resent_stored} events; rows went from {rows:,} to {rows_after:,}")
        write_result(
            benchmark=BATCHED,
            metric="events stored per second, batches of 1,000, sustained",
            value=(stored) / wall,
            unit="events/s",
            target=TARGET_BATCHED,
            higher_is_better=True,
            params={**params, "seconds": round(wall, 1), "connections": options.connections, "sent": sent,
                    "stored_rows": rows, "resent": resent_batches * BATCH_SIZE, "resent_stored": resent_stored,
                    "resend_events_per_s": round(resent_batches * BATCH_SIZE / resent_wall)},
            database=database,
        )  # fmt: skip
        if not options.skip_single:
            latencies, single_wall = asyncio.run(
                run_single(
                    options.port,
                    secret,
                    seconds=options.single_seconds,
                    connections=options.single_connections,
                    occurred_at=occurred_at,
                )
            )
            single_rows, _ = count_rows(options.database_url, "s")
            if single_rows != len(latencies):
                raise BenchmarkError(f"sent {len(latencies):,} single events but {single_rows:,} are stored")
            single_params = {**params, "seconds": round(single_wall, 1), "connections": options.single_connections,
                             "sent": len(latencies), "stored_rows": single_rows}  # fmt: skip
            write_result(
                benchmark=SINGLE,
                metric="single-event requests per second",
                value=len(latencies) / single_wall,
                unit="requests/s",
                target=TARGET_SINGLE,
                higher_is_better=True,
                params=single_params,
                database=database,
            )
            write_result(
                benchmark=SINGLE_P99,
                metric="single-event request latency p99",
                value=percentile(latencies, 99),
                unit="ms",
                target=TARGET_P99_MS,
                params={**single_params, "p50_ms": round(percentile(latencies, 50), 2)},
                database=database,
            )
    finally:
        stop_server(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
