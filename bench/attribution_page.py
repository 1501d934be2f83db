"""attribution_page: the attribution page for a year of data on PostgreSQL, p95 milliseconds.

    python bench/attribution_page.py                  # the demo company, 20,000 people: a few minutes to load once
    python bench/attribution_page.py --people 5000    # smaller

The demo company (tandem.demo.services.demo_generate: 18 months of touchpoints, stage changes,
opportunities and campaigns) is loaded once into its own PostgreSQL database (default
postgres://root@127.0.0.1:5432/tandem_bench_attribution, created when missing) and reused. Each
request is GET /attribution/ for the last 12 months, signed in as a marketer, alternating closed-won
revenue and MQLs: every model for campaigns and channels, the closed loop of the MQLs, the chart.
The figure is the p95 of REQUESTS requests after WARMUP untimed ones, against 1,000 ms.
"""

import argparse
import os
import sys
import time

from _common import BenchmarkError, database_label, discard_result, measure_get, percentile, setup_django, write_result

BENCHMARK = "attribution_page"
TARGET_MS = 1000
DEFAULT_DATABASE_URL = "postgres://root@127.0.0.1:5432/tandem_bench_attribution"
SIZES = {"people": 20_000, "accounts": 2_000}
REQUESTS = 20
WARMUP = 2
SEED = 42


def ensure_database(database_url: str) -> None:
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    server = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(server, autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')


def ensure_dataset(people: int, accounts: int) -> None:
    from django.core.management import call_command

    from tandem.crm.models import Person
    from tandem.demo.services import demo_generate

    call_command("migrate", verbosity=0)
    existing = Person.objects.count()
    if existing:
        if existing != people:
            raise BenchmarkError(f"The database holds {existing:,} people, not {people:,}; use another --database-url.")
        print(f"Reusing the demo company ({existing:,} people).")
        return
    print(f"Loading the demo company: {people:,} people, {accounts:,} accounts ...")
    started = time.monotonic()
    summary = demo_generate(seed=SEED, people=people, accounts=accounts)
    print(f"Loaded in {time.monotonic() - started:.0f} s: {summary['touchpoints']:,} touchpoints.")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=SIZES["people"])
    parser.add_argument("--accounts", type=int, default=SIZES["accounts"])
    parser.add_argument("--requests", type=int, default=REQUESTS)
    parser.add_argument("--database-url", default=os.environ.get("TANDEM_BENCH_ATTRIBUTION_URL", DEFAULT_DATABASE_URL))
    args = parser.parse_args(argv)
    discard_result(BENCHMARK)
    try:
        ensure_database(args.database_url)
        setup_django(args.database_url)
        database = database_label()
        if not database.startswith("postgresql"):
            raise BenchmarkError("this benchmark runs on PostgreSQL")
        ensure_dataset(args.people, args.accounts)
        from django.conf import settings
        from django.test import Client
        from django.utils import timezone

        from tandem.engagement.models import Touchpoint
        from tandem.users.models import Role, User

        settings.ALLOWED_HOSTS = ["*"]
        user, _ = User.objects.get_or_create(
            email="bench-attribution@example.com", defaults={"role": Role.MARKETING, "full_name": "Bench"}
        )
        client = Client()
        client.force_login(user)
        since = timezone.now() - timezone.timedelta(days=365)
        touches = Touchpoint.objects.filter(occurred_at__gte=since).count()
        conversions = ["closed_won", "mql"]
        cpu_started = time.process_time()
        timings = measure_get(
            client,
            lambda index: f"/attribution/?conversion={conversions[index % 2]}",
            count=args.requests,
            warmup=WARMUP,
        )
        cpu_ms = (time.process_time() - cpu_started) * 1000 / (args.requests + WARMUP)
        load = os.getloadavg()[0]
    except BenchmarkError as error:
        print(f"{BENCHMARK}: {error}", file=sys.stderr)
        return 1
    print(
        f"{touches:,} touchpoints in the last year; median {sorted(timings)[len(timings) // 2]:.0f} ms; "
        f"{cpu_ms:.0f} ms of this process's CPU per request; load average {load:.1f} on {os.cpu_count()} cores"
    )
    write_result(
        benchmark=BENCHMARK,
        metric="p95 ms of the attribution page for the last 12 months",
        value=percentile(timings, 95),
        unit="ms",
        target=TARGET_MS,
        params={
            "people": args.people,
            "accounts": args.accounts,
            "touchpoints_last_year": touches,
            "requests": args.requests,
        },
        database=database,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
