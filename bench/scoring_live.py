"""scoring_live: new touchpoints reflected in score and stage by the real worker, while they arrive at 1,000 a second.

    python bench/scoring_rescore.py --full             # first: the 1,000,000 people and 10,000,000 touchpoints
    python bench/scoring_live.py --full                # then this, against the same database
    python bench/scoring_live.py --seconds 60 --rate 1000

Needs PostgreSQL with the data of bench/scoring_rescore.py (the same --database-url, default
tandem_bench_scoring, or --full for its full size) and Redis (redis://127.0.0.1:6379/12, flushed).
A real Huey consumer (`tandem manage run_huey --workers 1`) runs against that database. For
--seconds this process records touchpoints at --rate a second, a batch every 100 ms, each batch
in one transaction that queues the refresh as every touchpoint writer does
(tandem.scoring.services.score_refresh_queue): most touchpoints go to random existing people, and
one per batch to a probe person made for the run, with no touchpoints and a score of 0. A probe's
latency runs from just before its batch commits to the moment its score row shows the new
engagement (polled every 20 ms by another connection); the worker's task also runs the MQL
qualification of the batch before it finishes. The figure is the p95 of the probes' latencies,
target 2,000 ms. The touchpoints and probes are deleted afterwards, so the scoring data is reused.
"""

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import BenchmarkError, database_label, discard_result, percentile, setup_django, write_result

BENCHMARK = "scoring_live_p95_ms"
TARGET_MS = 2000
DEFAULT_DATABASE_URL = "postgres://root@127.0.0.1:5432/tandem_bench_scoring"
FULL_DATABASE_URL = "postgres://root@127.0.0.1:5432/tandem_bench_scoring_rescore"
REDIS_URL = "redis://127.0.0.1:6379/12"
TICK_SECONDS = 0.1
ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", default=os.environ.get("TANDEM_BENCH_FULL") == "1")
    parser.add_argument("--database-url", default=os.environ.get("TANDEM_BENCH_SCORING_URL"))
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=int, default=1000, help="touchpoints a second")
    args = parser.parse_args()
    database_url = args.database_url or (FULL_DATABASE_URL if args.full else DEFAULT_DATABASE_URL)
    os.environ["REDIS_URL"] = REDIS_URL
    os.environ["TANDEM_HUEY_NAME"] = "tandem-bench-live"
    discard_result(BENCHMARK)
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    setup_django(database_url)
    database = database_label()
    print(f"Database: {database} at {database_url.split('@')[-1]}")
    environment = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "tandem.settings"}
    log = Path(tempfile.mkdtemp(prefix="tandem-bench-live-")) / "worker.log"
    with log.open("w") as handle:
        worker = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "tandem.cli", "manage", "run_huey", "--workers", "1"],
            cwd=ROOT, env=environment, stdout=handle, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        result = measure(args.seconds, args.rate)
    except BenchmarkError as error:
        print(f"{BENCHMARK}: FAILED: {error} (worker log: {log})", file=sys.stderr)
        return 1
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    write_result(
        benchmark=BENCHMARK,
        metric="p95 ms from a touchpoint's commit to its person's refreshed score, at the given rate",
        value=result["p95_ms"],
        unit="ms",
        target=TARGET_MS,
        params=result["params"],
        database=database,
    )
    return 0


def measure(seconds: float, rate: int) -> dict:
    from django.db import connection, transaction
    from django.utils import timezone

    from tandem.audit.actors import Actor
    from tandem.contract.services import contract_get
    from tandem.crm.models import Person
    from tandem.crm.services import person_create
    from tandem.engagement.models import Touchpoint
    from tandem.scoring.models import PersonScore
    from tandem.scoring.services import score_refresh_queue

    contract_get()  # the contract in force, made on first use
    people = Person.objects.count()
    low = Person.objects.order_by("id").values_list("id", flat=True).first()
    if not people:
        raise BenchmarkError("no people: run bench/scoring_rescore.py against this database first")
    high = low + people - 1
    per_tick = max(2, round(rate * TICK_SECONDS))
    ticks = int(seconds / TICK_SECONDS)
    actor = Actor.system("benchmark")
    run = int(time.time())
    probes = [person_create(by=actor, email=f"probe-{run}-{index}@bench.example").pk for index in range(ticks)]
    print(f"{people:,} people; {ticks} batches of {per_tick} touchpoints every {TICK_SECONDS * 1000:.0f} ms")
    committed: dict[int, float] = {}
    seen: dict[int, float] = {}
    stop = threading.Event()

    def poll():
        from django.db import connection as poll_connection

        try:
            while not stop.is_set() or len(seen) < len(committed):
                waiting = [probe for probe in list(committed) if probe not in seen]
                if waiting:
                    found = PersonScore.objects.filter(person_id__in=waiting, engagement_score__gt=0)
                    now = time.perf_counter()
                    for person_id in found.values_list("person_id", flat=True):
                        seen[person_id] = now
                if stop.is_set() and time.perf_counter() > deadline[0]:
                    return
                time.sleep(0.02)
        finally:
            poll_connection.close()

    deadline = [float("inf")]
    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    rng = random.Random(11)
    created: list[int] = []
    late_ticks = 0
    started = time.perf_counter()
    try:
        for tick in range(ticks):
            due = started + tick * TICK_SECONDS
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            else:
                late_ticks += 1
            moment = timezone.now()
            targets = [rng.randint(low, high) for _ in range(per_tick - 1)] + [probes[tick]]
            with transaction.atomic():
                points = Touchpoint.objects.bulk_create(
                    Touchpoint(
                        person_id=person_id,
                        type="page_view",
                        url="https://bench.example/pricing",
                        occurred_at=moment,
                        channel="direct",
                    )
                    for person_id in targets
                )
                score_refresh_queue(person_ids=targets)
                committed[probes[tick]] = time.perf_counter()
            created += [point.pk for point in points]
        sending = time.perf_counter() - started
        deadline[0] = time.perf_counter() + 15
        stop.set()
        poller.join(timeout=20)
        missing = [probe for probe in committed if probe not in seen]
        if missing:
            raise BenchmarkError(f"{len(missing)} of {len(committed)} probes were not refreshed within 15 s")
        latencies = [(seen[probe] - committed[probe]) * 1000 for probe in committed]
    finally:
        stop.set()
        deadline[0] = 0
        Touchpoint.objects.filter(pk__in=created).delete()
        Person.objects.filter(pk__in=probes).delete()
        connection.close()
    result = {
        "p95_ms": round(percentile(latencies, 95), 1),
        "params": {
            "people": people,
            "seconds": round(sending, 1),
            "touchpoints_sent": len(created),
            "touchpoints_per_s": round(len(created) / sending),
            "batch_every_ms": TICK_SECONDS * 1000,
            "probes": len(latencies),
            "median_ms": round(percentile(latencies, 50), 1),
            "max_ms": round(max(latencies), 1),
            "late_batches": late_ticks,
            "worker": "tandem manage run_huey --workers 1 (Redis queue)",
        },
    }
    print(
        f"sent {len(created):,} touchpoints in {sending:.1f} s ({result['params']['touchpoints_per_s']:,}/s); "
        f"probe latency median {result['params']['median_ms']} ms, max {result['params']['max_ms']} ms"
    )
    return result


if __name__ == "__main__":
    sys.exit(main())
