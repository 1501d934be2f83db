"""scoring_rescore: rescore every person after a new contract version, people per second.

    python bench/scoring_rescore.py            # 100,000 people, 1,000,000 touchpoints: a minute or two
    python bench/scoring_rescore.py --full     # 1,000,000 people, 10,000,000 touchpoints (or TANDEM_BENCH_FULL=1)

Needs PostgreSQL: the data is generated with generate_series into its own database (default
postgres://root@127.0.0.1:5432/tandem_bench_scoring, created when missing) and reused by later
runs of the same size. The figure is people / seconds of the median of RUNS runs of
scores_recompute_all (match in SQL, score in numpy, write the ledger and the scores), against the
target of 1,000,000 people in 15 s. A second result, scoring_refresh, is the p95 of one person's
refresh after a new touchpoint (insert + score_person_refresh), against 2 s; and
scoring_refresh_batch, the seconds to insert 1,000 touchpoints for 1,000 people and refresh them
in one scores_refresh_people call, against 1 s: under that, one worker keeps up with 1,000
touchpoints a second and each is reflected within 2 s.
"""

import argparse
import datetime as dt
import os
import statistics
import sys
import time

from _common import BenchmarkError, database_label, discard_result, percentile, setup_django, write_result

BENCHMARK = "scoring_rescore"
REFRESH_BENCHMARK = "scoring_refresh"
BATCH_BENCHMARK = "scoring_refresh_batch"
TARGET_BATCH_SECONDS = 1.0
BATCH_SIZE = 1000
TARGET_PEOPLE_PER_SECOND = 66_000
TARGET_REFRESH_MS = 2000
RUNS = 3
REFRESHES = 200
SMALL = {"people": 100_000, "touchpoints": 1_000_000}
FULL = {"people": 1_000_000, "touchpoints": 10_000_000}
DEFAULT_DATABASE_URL = "postgres://root@127.0.0.1:5432/tandem_bench_scoring"
AS_OF = dt.datetime(2025, 6, 30, 12, 0, tzinfo=dt.UTC)

CONTRACT_ENGAGEMENT = {
    "decay": {"half_life_days": 30},
    "groups": [{"name": "web", "cap": 30}],
    "rules": [
        {
            "name": "Pricing page",
            "touchpoint": "page_view",
            "url": "*/pricing*",
            "points": 10,
            "cap": 30,
            "group": "web",
        },
        {"name": "Product pages", "touchpoint": "page_view", "url": "*/product/*", "points": 3, "group": "web"},
        {"name": "Careers page", "touchpoint": "page_view", "url": "*/careers*", "points": -10},
        {"name": "Demo form", "touchpoint": "form_submit", "points": 25},
        {"name": "Webinar attended", "touchpoint": "webinar", "campaign": "Q3 webinar", "points": 15},
        {"name": "Email click", "touchpoint": "email_click", "points": 4, "cap": 20},
        {"name": "Unsubscribed", "touchpoint": "email_click", "properties": {"action": "unsubscribe"}, "points": -20},
        {"name": "Content download", "touchpoint": "content_download", "points": 8, "cap": 24},
        {"name": "Meeting booked", "touchpoint": "meeting_booked", "points": 30},
    ],
}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", default=os.environ.get("TANDEM_BENCH_FULL") == "1")
    parser.add_argument("--people", type=int)
    parser.add_argument("--touchpoints", type=int)
    parser.add_argument("--database-url", default=os.environ.get("TANDEM_BENCH_SCORING_URL", DEFAULT_DATABASE_URL))
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--refreshes", type=int, default=REFRESHES)
    return parser.parse_args(argv)


def ensure_database(database_url: str) -> None:
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    server = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(server, autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')


GENERATE_PEOPLE = """
INSERT INTO crm_person (email, first_name, last_name, title, phone, lifecycle_stage_id, source, utm_source,
    utm_medium, utm_campaign, utm_term, utm_content, buying_role, consent_email,
    consent_tracking, custom_fields, stage_entered_at, last_activity_at, created_at, updated_at)
SELECT 'person' || g || '@bench.example', '', '', '', '', 'lead', '', '', '', '', '', '', '', false, false,
    '{}', %(as_of)s, %(as_of)s, %(as_of)s, %(as_of)s
FROM generate_series(1, %(people)s) g
"""

# Touchpoint types weighted like a marketing database: mostly page views and email.
GENERATE_TOUCHPOINTS = """
INSERT INTO engagement_touchpoint (person_id, anonymous_id, type, channel, campaign_id, utm_source, utm_medium,
    utm_campaign, utm_term, utm_content, url, referrer, occurred_at, properties)
SELECT %(first_person)s + floor(random() * %(people)s)::bigint, '',
    k.type, '', CASE WHEN k.type = 'webinar' THEN (%(campaigns)s::bigint[])[1 + floor(random() * 3)::int] END,
    '', '', '', '', '',
    CASE WHEN k.type = 'page_view' THEN (ARRAY['https://bench.example/pricing', 'https://bench.example/product/a',
        'https://bench.example/blog/x', 'https://bench.example/careers', 'https://bench.example/',
        'https://bench.example/Pricing?plan=team', 'https://bench.example/product/b', 'https://bench.example/docs'])
        [1 + floor(random() * 8)::int] ELSE '' END,
    '', %(as_of)s - random() * interval '365 days',
    CASE WHEN k.type = 'email_click' AND random() < 0.05 THEN '{"action": "unsubscribe"}'::jsonb ELSE '{}'::jsonb END
FROM generate_series(1, %(touchpoints)s) g
CROSS JOIN LATERAL (
    SELECT (ARRAY['page_view', 'page_view', 'page_view', 'page_view', 'page_view', 'email_open', 'email_open',
        'email_click', 'email_sent', 'form_submit', 'webinar', 'content_download', 'meeting_booked', 'ad_click'])
        [1 + floor(random() * 14 + g * 0)::int] AS type
) k
"""


def ensure_dataset(sizes: dict) -> dict:
    from django.core.management import call_command
    from django.db import connection

    from tandem.campaigns.models import Campaign
    from tandem.crm.models import Person
    from tandem.engagement.models import Touchpoint

    call_command("migrate", verbosity=0)
    people = Person.objects.count()
    touchpoints = Touchpoint.objects.count()
    if (people, touchpoints) == (sizes["people"], sizes["touchpoints"]):
        print(f"Reusing {people:,} people and {touchpoints:,} touchpoints.")
        return {"load_seconds": None}
    print(f"Generating {sizes['people']:,} people and {sizes['touchpoints']:,} touchpoints ...")
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE crm_person, engagement_touchpoint, campaigns_campaign, scoring_personscore CASCADE")
        cursor.execute(GENERATE_PEOPLE, {"people": sizes["people"], "as_of": AS_OF})
        # Every person has a row of scores, as people created through the application do.
        cursor.execute(
            "INSERT INTO scoring_personscore (person_id, fit_score, engagement_score) SELECT id, 0, 0 FROM crm_person"
        )
    now = AS_OF
    campaigns = [
        Campaign.objects.create(name=name, channel="webinar", created_at=now, updated_at=now).pk
        for name in ("Q3 Webinar", "Q4 webinar", "Partner webinar")
    ]
    first_person = Person.objects.order_by("id").values_list("id", flat=True).first()
    with connection.cursor() as cursor:
        cursor.execute(
            GENERATE_TOUCHPOINTS,
            {
                "first_person": first_person,
                "people": sizes["people"],
                "touchpoints": sizes["touchpoints"],
                "campaigns": campaigns,
                "as_of": AS_OF,
            },
        )
        cursor.execute("ANALYZE crm_person")
        cursor.execute("ANALYZE scoring_personscore")
        cursor.execute("ANALYZE engagement_touchpoint")
    seconds = round(time.monotonic() - started, 1)
    print(f"Generated in {seconds} s.")
    return {"load_seconds": seconds}


def main(argv=None) -> int:
    args = parse_args(argv)
    sizes = dict(FULL if args.full else SMALL)
    if args.people:
        sizes["people"] = args.people
    if args.touchpoints:
        sizes["touchpoints"] = args.touchpoints
    discard_result(BENCHMARK)
    discard_result(REFRESH_BENCHMARK)
    discard_result(BATCH_BENCHMARK)
    try:
        if not args.database_url.startswith("postgres"):
            raise BenchmarkError("the full rescore benchmark measures the PostgreSQL path; give a postgres:// URL")
        ensure_database(args.database_url)
        setup_django(args.database_url)
        database = database_label()
        print(f"Database: {database} at {args.database_url.split('@')[-1]}")
        load = ensure_dataset(sizes)
        rescore = measure_rescore(args.runs)
        refresh = measure_refresh(args.refreshes)
        batch = measure_batch_refresh()
    except BenchmarkError as error:
        print(f"{BENCHMARK}: FAILED: {error}", file=sys.stderr)
        return 1
    params = {**sizes, **load, "contract_rules": len(CONTRACT_ENGAGEMENT["rules"]), "as_of": AS_OF.isoformat()}
    write_result(
        benchmark=BENCHMARK,
        metric="people_per_second",
        value=rescore["people_per_second"],
        unit="people/s",
        target=TARGET_PEOPLE_PER_SECOND,
        higher_is_better=True,
        params={**params, **rescore["params"]},
        database=database,
    )
    write_result(
        benchmark=REFRESH_BENCHMARK,
        metric="p95_ms",
        value=refresh["p95_ms"],
        unit="ms",
        target=TARGET_REFRESH_MS,
        params={**params, **refresh["params"]},
        database=database,
    )
    write_result(
        benchmark=BATCH_BENCHMARK,
        metric="seconds_per_1000_touchpoints",
        value=batch["median_seconds"],
        unit="s",
        target=TARGET_BATCH_SECONDS,
        params={**params, **batch["params"]},
        database=database,
    )
    return 0


def measure_batch_refresh(rounds: int = 5) -> dict:
    import random

    from tandem.crm.models import Person
    from tandem.engagement.models import Touchpoint
    from tandem.scoring.rules import engagement_rules_parse
    from tandem.scoring.services import scores_refresh_people

    rules = engagement_rules_parse(CONTRACT_ENGAGEMENT)
    low = Person.objects.order_by("id").values_list("id", flat=True).first()
    high = low + Person.objects.count() - 1
    rng = random.Random(7)
    seconds, created = [], []
    try:
        for round_number in range(rounds):
            people = [rng.randint(low, high) for _ in range(BATCH_SIZE)]
            started = time.perf_counter()
            points = Touchpoint.objects.bulk_create(
                Touchpoint(
                    person_id=person_id,
                    type="page_view",
                    url="https://bench.example/pricing",
                    occurred_at=AS_OF - dt.timedelta(seconds=round_number),
                )
                for person_id in people
            )
            scores_refresh_people(person_ids=people, rules=rules, as_of=AS_OF, contract_version=1)
            seconds.append(time.perf_counter() - started)
            created += [point.pk for point in points]
    finally:
        Touchpoint.objects.filter(pk__in=created).delete()
    return {
        "median_seconds": statistics.median(seconds),
        "params": {
            "batch_touchpoints": BATCH_SIZE,
            "rounds": rounds,
            "seconds_per_round": [round(value, 3) for value in seconds],
            "path": "bulk_create 1,000 touchpoints, then tandem.scoring.services.scores_refresh_people",
        },
    }


def measure_rescore(runs: int) -> dict:
    from tandem.crm.models import Person
    from tandem.scoring.rules import engagement_rules_parse
    from tandem.scoring.services import scores_recompute_all

    rules = engagement_rules_parse(CONTRACT_ENGAGEMENT)
    people = Person.objects.count()
    from tandem.scoring import postgres

    seconds, lines, changed, steps = [], 0, [], []
    for run_number in range(runs):
        # Alternate the version's points so every run really changes scores, as a new version does.
        version_rules = rules if run_number % 2 == 0 else _doubled(rules)
        started = time.perf_counter()
        run = scores_recompute_all(rules=version_rules, as_of=AS_OF, contract_version=run_number + 1)
        seconds.append(time.perf_counter() - started)
        lines = run.ledger_lines
        changed.append(run.people_changed)
        steps.append(dict(postgres.last_step_seconds))
        print(f"    steps: {steps[-1]}")
        print(
            f"  run {run_number + 1}: {seconds[-1]:.2f} s, {lines:,} ledger lines, "
            f"{run.people_changed:,} scores changed"
        )
    if lines == 0:
        raise BenchmarkError("the rescore wrote no ledger lines")
    median = statistics.median(seconds)
    return {
        "people_per_second": people / median,
        "params": {
            "runs": runs,
            "seconds_per_run": [round(value, 2) for value in seconds],
            "ledger_lines": lines,
            "scores_changed_per_run": changed,
            "step_seconds_per_run": steps,
            "path": "tandem.scoring.services.scores_recompute_all (PostgreSQL: SQL matching, binary COPY)",
        },
    }


def _doubled(rules):
    from dataclasses import replace

    from tandem.scoring.rules import POINTS_LIMIT

    return replace(
        rules,
        rules=tuple(
            replace(rule, points=max(-POINTS_LIMIT, min(POINTS_LIMIT, rule.points * 2))) for rule in rules.rules
        ),
    )


def measure_refresh(count: int) -> dict:
    import random

    from tandem.crm.models import Person
    from tandem.engagement.models import Touchpoint
    from tandem.scoring.rules import engagement_rules_parse
    from tandem.scoring.services import score_person_refresh

    rules = engagement_rules_parse(CONTRACT_ENGAGEMENT)
    ids = list(Person.objects.order_by("id").values_list("id", flat=True)[:1])
    low = ids[0]
    high = low + Person.objects.count() - 1
    rng = random.Random(42)
    created = []
    timings = []
    try:
        for index in range(count):
            person_id = rng.randint(low, high)
            started = time.perf_counter()
            point = Touchpoint.objects.create(
                person_id=person_id, type="form_submit", occurred_at=AS_OF - dt.timedelta(minutes=index)
            )
            score_person_refresh(person_id=person_id, rules=rules, as_of=AS_OF, contract_version=1)
            timings.append((time.perf_counter() - started) * 1000)
            created.append(point.pk)
    finally:
        Touchpoint.objects.filter(pk__in=created).delete()
    return {
        "p95_ms": percentile(timings, 95),
        "params": {
            "refreshes": count,
            "median_ms": round(statistics.median(timings), 2),
            "path": "insert one touchpoint, then tandem.scoring.services.score_person_refresh (no queue wait)",
        },
    }


if __name__ == "__main__":
    sys.exit(main())
