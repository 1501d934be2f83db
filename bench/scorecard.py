"""scorecard: the scorecard page (warm) and filtered analysis views on PostgreSQL, p95 milliseconds.

    python bench/scorecard.py            # 10,000 people, 100,000 touchpoints, 2,000 opportunities, 50,000 stage changes
    python bench/scorecard.py --full     # 1,000,000 people, 10,000,000 touchpoints, 200,000 opportunities,
                                         # 5,000,000 stage changes (or TANDEM_BENCH_FULL=1)

The data is generated once, inside PostgreSQL (INSERT ... SELECT over generate_series, the fastest bulk
path: nothing crosses the wire), into its own database (default
postgres://root@127.0.0.1:5432/tandem_bench_scorecard for --full, tandem_bench_scorecard_small
otherwise), and reused by later runs of the same size. Three years of history ending today: 100
accounts per 1,000 people, five stage changes per person along paths that include recycles,
disqualifications, churn and skipped stages, opportunities won, lost and open, hand-offs, campaigns
with members, revenue targets and MQL goals.

Figures (each the p95 of --requests timed requests after --warmup untimed ones, in-process Django
test client signed in as leadership):
- scorecard_page: GET /scorecard/ (this quarter against the last eight), target 300 ms warm;
- scorecard_analysis: the five analysis pages (funnel, conversion and velocity, trends, cohorts,
  pipeline), each without filters and filtered by each menu (owner, team, ICP tier, industry, region,
  campaign, channel, and three at once) for this quarter, and by none, owner, region and channel for a whole
  year; the figure is the p95 of the slowest of these views (named in the params), target 1,000 ms;
- scorecard_live: the same analysis views, timed one after another for --live-seconds while stage
  changes keep arriving (--arrivals a second, recorded by another process through the lifecycle
  service, as the record pages and rules do) and a real worker (`tandem manage run_huey --workers 2`,
  periodic tasks included, as `tandem serve` runs it) counts them into the rollup; the figure is the
  p95 of those views (their maximum in the params), target 1,000 ms. Every --probe-seconds a probe
  person (owned by a user of their own, so that nothing else moves their figures) becomes an MQL: how
  long until the MQL tile of their owner's scorecard counts it, and until their owner's funnel shows
  it (polled between the timed views), target 60 s;
- with --first-view-only, scorecard_first_view: the first view ever (all kept snapshots forgotten first),
  target 3,000 ms, with how long the worker's task that keeps the closed quarters takes, then stop;
and, in the params, the first (cold) view of the scorecard and of an analysis page in the process,
how long after a new stage change the scorecard and the analysis views show it with the worker idle,
how long building the stage-entry rollup took the first time, and the worker's catch-up runs during
the live phase (count, median and longest), with the load averages.

The worker and the pages share Redis at redis://127.0.0.1:6379/13 (flushed at the start) for the
queue and the cache, as an installation with REDIS_URL does.
"""

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import BenchmarkError, database_label, discard_result, measure_get, percentile, setup_django, write_result

TARGET_PAGE_MS = 300
TARGET_ANALYSIS_MS = 1000
TARGET_VISIBLE_S = 60
TARGET_FIRST_VIEW_MS = 3000  # the first view ever, on a fresh install (was ~18 s computing seven quarters)
REDIS_URL = "redis://127.0.0.1:6379/13"
HUEY_NAME = "tandem-bench-scorecard"
ROOT = Path(__file__).resolve().parent.parent
PAGES = ("funnel", "conversion", "trends", "cohorts", "pipeline")
FULL = {"people": 1_000_000, "touchpoints": 10_000_000, "opportunities": 200_000, "stage_changes": 5_000_000}
SMALL = {"people": 10_000, "touchpoints": 100_000, "opportunities": 2_000, "stage_changes": 50_000}
USERS_PER_TEAM, TEAMS = 10, 4
CAMPAIGNS = 500

# Five stages per person along one of these paths (by person id): straight runs, recycles, skips,
# disqualification and churn.
PATHS = [
    ["subscriber", "lead", "mql", "sal", "sql"],
    ["lead", "mql", "sal", "sql", "opportunity"],
    ["lead", "mql", "recycled", "mql", "sal"],
    ["lead", "mql", "sql", "opportunity", "customer"],
    ["mql", "sal", "sql", "opportunity", "customer"],
    ["lead", "mql", "sal", "disqualified", "lead"],
    ["sql", "opportunity", "customer", "churned", "lead"],
    ["subscriber", "lead", "mql", "recycled", "lead"],
]


def ensure_database(database_url: str) -> None:
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    server = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(server, autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')


def _fillers(cursor, table: str, given: list[str]) -> tuple[list[str], list[str]]:
    """Values for the NOT NULL columns without a default that a generator does not set (schema-proof)."""
    cursor.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s"
        " AND is_nullable = 'NO' AND column_default IS NULL",
        [table],
    )
    defaults = {
        "text": "''",
        "character varying": "''",
        "boolean": "false",
        "integer": "0",
        "smallint": "0",
        "bigint": "0",
        "numeric": "0",
        "double precision": "0",
        "jsonb": "'{}'::jsonb",
        "timestamp with time zone": "now()",
        "date": "current_date",
    }
    names, values = [], []
    for column, data_type in cursor.fetchall():
        if column in given or column == "id":
            continue
        if data_type not in defaults:
            raise BenchmarkError(f"{table}.{column} is NOT NULL of type {data_type}: the generator needs a value")
        names.append(column)
        values.append(defaults[data_type])
    return names, values


def _secondary_indexes(cursor, table: str) -> list[tuple[str, str]]:
    """The table's indexes that back no constraint: dropped for the load and built afterwards by sorting,
    much faster than keeping them up to date row by row."""
    cursor.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s"
        " AND indexname NOT IN (SELECT conname FROM pg_constraint)",
        [table],
    )
    return cursor.fetchall()


def _insert(cursor, table: str, columns: dict[str, str], source: str, params: dict) -> None:
    """Load one table unless an earlier, interrupted run loaded it already; all or nothing."""
    from django.db import transaction

    cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {table})")  # noqa: S608 - a table name of this file
    if cursor.fetchone()[0]:
        print(f"    {table}: loaded before", flush=True)
        return
    with transaction.atomic():
        indexes = _secondary_indexes(cursor, table)
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')
        _insert_rows(cursor, table, columns, source, params)
        for _, definition in indexes:
            cursor.execute(definition)


def _insert_rows(cursor, table: str, columns: dict[str, str], source: str, params: dict) -> None:
    names, values = _fillers(cursor, table, list(columns))
    all_names = [*columns, *names]
    all_values = [*columns.values(), *values]
    # A modulo in the expressions is written %, a parameter %(name)s: double the first for the driver.
    sql = f"INSERT INTO {table} ({', '.join(all_names)}) SELECT {', '.join(all_values)} {source}"
    cursor.execute(re.sub(r"%(?!\()", "%%", sql), params)


def generate(sizes: dict) -> float:
    from django.db import connection, transaction

    from tandem.users.models import Role, Side, Team, User

    started = time.monotonic()
    with transaction.atomic():
        for team_index in range(TEAMS if not Team.objects.filter(name__startswith="Bench team").exists() else 0):
            team = Team.objects.create(name=f"Bench team {team_index + 1}", side=Side.SALES)
            for rep in range(USERS_PER_TEAM):
                User.objects.create(
                    email=f"rep{team_index}-{rep}@bench.example",
                    full_name=f"Rep {team_index}-{rep}",
                    role=Role.AE,
                    team=team,
                )
        User.objects.get_or_create(
            email="leo@bench.example", defaults={"full_name": "Leo CRO", "role": Role.LEADERSHIP}
        )
    users = list(User.objects.filter(role=Role.AE).order_by("pk").values_list("pk", flat=True))
    people, accounts = sizes["people"], max(100, sizes["people"] // 10)
    per_person = sizes["stage_changes"] // people
    params = {
        "people": people,
        "accounts": accounts,
        "users": users,
        "user_count": len(users),
        "opportunities": sizes["opportunities"],
        "touchpoints": sizes["touchpoints"],
        "campaigns": CAMPAIGNS,
        "steps": per_person,
    }
    start = "(date_trunc('day', now()) - interval '1095 days')"
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
        cursor.execute("SET maintenance_work_mem = '512MB'")
        # The generated rows refer only to rows generated before them: the foreign-key triggers, which
        # would check 15 million references one by one, are off for the load (PostgreSQL superuser).
        cursor.execute("SET session_replication_role = replica")
        print("  accounts ...", flush=True)
        _insert(
            cursor,
            "crm_account",
            {
                "name": "'Account ' || g",
                "domain": "'a' || g || '.bench.example'",
                "industry": "(ARRAY['Software','Retail','Finance','Health','Manufacturing','Education','Media',"
                "'Energy'])[1 + g % 8]",
                "region": "(ARRAY['EMEA','Americas','APAC','LATAM'])[1 + (g / 8) % 4]",
                "country": "'US'",
                "icp_tier": "1 + g % 3",
                "is_target_account": "g % 20 = 0",
                "custom_fields": "'{}'::jsonb",
                "owner_id": "(%(users)s::bigint[])[1 + g % %(user_count)s]",
                "created_at": f"{start} + (g % 1000) * interval '1 day'",
                "updated_at": "now()",
            },
            "FROM generate_series(1::bigint, %(accounts)s::bigint) AS g",
            params,
        )
        cursor.execute("SELECT min(id) FROM crm_account")
        params["first_account"] = cursor.fetchone()[0]
        print("  people ...", flush=True)
        _insert(
            cursor,
            "crm_person",
            {
                "email": "'p' || g || '@bench.example'",
                "first_name": "'Pat'",
                "last_name": "'Person ' || g",
                "account_id": "%(first_account)s + (g * 7919) % %(accounts)s",
                "lifecycle_stage_id": f"(ARRAY{[path[-1] for path in PATHS]!r})[1 + g % {len(PATHS)}]",
                "owner_id": "CASE WHEN g % 5 = 0 THEN NULL"
                " ELSE (%(users)s::bigint[])[1 + (g / 5) % %(user_count)s] END",
                "custom_fields": "'{}'::jsonb",
                # Created over the three years up to 100 days ago, so that every path has happened.
                "created_at": f"{start} + ((g * 104729) % (995 * 1440)) * interval '1 minute'",
                "stage_entered_at": "now()",
                "last_activity_at": "now()",
                "updated_at": "now()",
            },
            "FROM generate_series(1::bigint, %(people)s::bigint) AS g",
            params,
        )
        # Scores live in their own narrow table (tandem.scoring.models.PersonScore), one row per person.
        cursor.execute(
            "INSERT INTO scoring_personscore (person_id, fit_score, engagement_score) "
            "SELECT p.id, (p.id - f.first + 1) % 100, ((p.id - f.first + 1) * 31) % 100 "
            "FROM crm_person p, (SELECT min(id) AS first FROM crm_person) f"
        )
        print("  stage changes ...", flush=True)
        paths = "ARRAY[" + ", ".join("ARRAY" + repr(path) for path in PATHS) + "]"
        _insert(
            cursor,
            "crm_stagechange",
            {
                "person_id": "p.id",
                "from_stage_id": f"CASE WHEN k = 1 THEN NULL ELSE ({paths})[1 + (p.id % {len(PATHS)})][k - 1] END",
                "to_stage_id": f"({paths})[1 + (p.id % {len(PATHS)})][k]",
                "at": "p.created_at + (k - 1) * (1 + (p.id * 7) % 19) * interval '1 day' + k * interval '1 hour'",
                "actor_type": "'rule'",
                "actor_label": "'bench'",
                "reason": "''",
                "evidence": "'{}'::jsonb",
            },
            "FROM crm_person p CROSS JOIN generate_series(1, %(steps)s) AS k",
            params,
        )
        print("  campaigns and members ...", flush=True)
        _insert(
            cursor,
            "campaigns_campaign",
            {
                "name": "'Campaign ' || g",
                "channel": "(ARRAY['paid_search','email','events','paid_social','content','partner'])[1 + g % 6]",
                "type": "'other'",
                "cost": "1000 + (g * 37) % 20000",
                "start_date": f"({start} + (g * 2) * interval '1 day')::date",
                "end_date": f"({start} + (g * 2 + 30) * interval '1 day')::date",
                "goal": "''",
                "utm_campaign": "'c' || g",
                "created_at": "now()",
                "updated_at": "now()",
            },
            "FROM generate_series(1::bigint, %(campaigns)s::bigint) AS g",
            params,
        )
        cursor.execute("SELECT min(id) FROM campaigns_campaign")
        params["first_campaign"] = cursor.fetchone()[0]
        _insert(
            cursor,
            "campaigns_campaignmember",
            {
                "campaign_id": "%(first_campaign)s + p.id % %(campaigns)s",
                "person_id": "p.id",
                "status": "'responded'",
                "created_at": "p.created_at",
            },
            "FROM crm_person p WHERE p.id % 2 = 0",
            params,
        )
        print("  opportunities ...", flush=True)
        _insert(
            cursor,
            "crm_opportunity",
            {
                "account_id": "%(first_account)s + (g * 31) % %(accounts)s",
                "name": "'Deal ' || g",
                "amount": "1000 + (g * 7907) % 99000",
                "currency": "'USD'",
                "stage_id": "(ARRAY['discovery','qualification','solution','proposal','negotiation',"
                "'closed_won','closed_won','closed_won','closed_lost','closed_lost'])[1 + g % 10]",
                "probability": "(ARRAY[10,20,40,60,80,100,100,100,0,0])[1 + g % 10]",
                "forecast_category": "(ARRAY['pipeline','pipeline','best_case','best_case','commit',"
                "'closed','closed','closed','omitted','omitted'])[1 + g % 10]",
                "is_closed": "g % 10 >= 5",
                "is_won": "g % 10 BETWEEN 5 AND 7",
                "owner_id": "(%(users)s::bigint[])[1 + g % %(user_count)s]",
                "source_campaign_id": "CASE WHEN g % 3 = 0 THEN %(first_campaign)s + g % %(campaigns)s END",
                # Closed deals over the three years; open ones closing in the next six months.
                "close_date": f"CASE WHEN g % 10 >= 5 THEN ({start} + ((g * 104729) % 1095) * interval '1 day')::date"
                " ELSE (now() + ((g * 13) % 180) * interval '1 day')::date END",
                "lost_reason": "''",
                "custom_fields": "'{}'::jsonb",
                "created_at": f"{start} + ((g * 104729) % 1000) * interval '1 day'",
                "updated_at": "now()",
            },
            "FROM generate_series(1::bigint, %(opportunities)s::bigint) AS g",
            params,
        )
        print("  hand-offs ...", flush=True)
        _insert(
            cursor,
            "handoff_handoff",
            {
                "person_id": "s.person_id",
                "assignee_id": "(%(users)s::bigint[])[1 + s.person_id % %(user_count)s]",
                "status": "CASE WHEN s.person_id % 10 = 0 THEN 'rejected'"
                " WHEN s.person_id % 10 = 1 AND s.at > now() - interval '30 days' THEN 'pending' ELSE 'accepted' END",
                "created_at": "s.at",
                "accepted_at": "CASE WHEN s.person_id % 10 <> 0"
                " AND (s.person_id % 10 <> 1 OR s.at <= now() - interval '30 days') THEN s.at + interval '5 hours' END",
                "rejected_at": "CASE WHEN s.person_id % 10 = 0 THEN s.at + interval '6 hours' END",
                "rejection_reason": "CASE WHEN s.person_id % 10 = 0 THEN 'bad_timing' ELSE '' END",
                "sla_status": "CASE WHEN s.person_id % 7 = 0 THEN 'breached' ELSE 'met' END",
                "icp_tier": "1 + s.person_id % 3",
            },
            "FROM (SELECT DISTINCT ON (person_id) person_id, at FROM crm_stagechange WHERE to_stage_id = 'mql'"
            " ORDER BY person_id, at) AS s",
            params,
        )
        print("  touchpoints ...", flush=True)
        _insert(
            cursor,
            "engagement_touchpoint",
            {
                "person_id": "(SELECT min(id) FROM crm_person) + (g * 7919) % %(people)s",
                "anonymous_id": "''",
                "type": "(ARRAY['page_view','page_view','email_open','email_click','form_submit','webinar',"
                "'ad_click'])[1 + g % 7]",
                "channel": "(ARRAY['organic_search','email','paid_search','events','direct'])[1 + g % 5]",
                "occurred_at": f"{start} + ((g * 104729) % (1095 * 1440)) * interval '1 minute'",
                "properties": "'{}'::jsonb",
            },
            "FROM generate_series(1::bigint, %(touchpoints)s::bigint) AS g",
            params,
        )
        print("  targets and goals ...", flush=True)
        cursor.execute("DELETE FROM analytics_revenuetarget")
        cursor.execute("DELETE FROM handoff_mqlgoal")
        cursor.execute(
            "INSERT INTO analytics_revenuetarget (period_start, period_end, amount, currency, created_at, updated_at)"  # noqa: S608 - constants only
            " SELECT q::date, (q + interval '3 months' - interval '1 day')::date, 40000000, 'USD', now(), now()"
            f" FROM generate_series(date_trunc('quarter', {start}), now() + interval '6 months',"
            " interval '3 months') AS q"
        )
        cursor.execute(
            "INSERT INTO handoff_mqlgoal (period_start, period_end, segment, target, created_at)"  # noqa: S608 - constants only
            " SELECT m::date, (m + interval '1 month' - interval '1 day')::date, '', %(goal)s, now()"
            f" FROM generate_series(date_trunc('month', {start}), now() + interval '6 months',"
            " interval '1 month') AS m",
            {"goal": max(1, people // 40)},
        )
        cursor.execute("SET session_replication_role = origin")
        print("  analyse ...", flush=True)
        for table in (
            "crm_account",
            "crm_person",
            "crm_stagechange",
            "crm_opportunity",
            "handoff_handoff",
            "campaigns_campaign",
            "campaigns_campaignmember",
            "engagement_touchpoint",
        ):
            cursor.execute(f"VACUUM ANALYZE {table}")
    return round(time.monotonic() - started, 1)


def ensure_dataset(sizes: dict) -> float | None:
    from django.core.management import call_command

    from tandem.crm.models import Person, StageChange
    from tandem.engagement.models import Touchpoint

    call_command("migrate", verbosity=0)
    from tandem.analytics.models import RevenueTarget

    existing = Person.objects.exclude(email__startswith="probe-").count()  # not the live phase's probes
    if existing and RevenueTarget.objects.exists():  # the last step of a complete load
        if existing != sizes["people"]:
            raise BenchmarkError(
                f"The database holds {existing:,} people, not {sizes['people']:,}; use another --database-url."
            )
        print(f"Reusing the data ({existing:,} people, {StageChange.objects.count():,} stage changes).")
        return None
    print(
        f"Generating {sizes['people']:,} people, {sizes['touchpoints']:,} touchpoints, "
        f"{sizes['opportunities']:,} opportunities, {sizes['stage_changes']:,} stage changes ..."
    )
    seconds = generate(sizes)
    print(f"Generated in {seconds} s ({Touchpoint.objects.count():,} touchpoints).")
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", default=os.environ.get("TANDEM_BENCH_FULL") == "1")
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--database-url")
    parser.add_argument("--live-seconds", type=float, default=120.0, help="length of the live phase")
    parser.add_argument("--arrivals", type=float, default=3.0, help="stage changes a second in the live phase")
    parser.add_argument("--probe-seconds", type=float, default=12.0, help="a probe MQL every so many seconds")
    parser.add_argument(
        "--first-view-only",
        action="store_true",
        help="forget the kept snapshots, time the first view ever and the worker's snapshot task, and stop there",
    )
    parser.add_argument("--feed", type=float, help=argparse.SUPPRESS)  # the live phase's other process
    args = parser.parse_args(argv)
    sizes = FULL if args.full else SMALL
    database_url = args.database_url or os.environ.get(
        "TANDEM_BENCH_SCORECARD_URL",
        "postgres://root@127.0.0.1:5432/tandem_bench_scorecard" + ("" if args.full else "_small"),
    )
    os.environ["REDIS_URL"] = REDIS_URL
    os.environ["TANDEM_HUEY_NAME"] = HUEY_NAME
    if args.feed is not None:
        setup_django(database_url)
        print(json.dumps(feed(args.feed, args.arrivals)), flush=True)
        return 0
    for name in (
        ("scorecard_first_view",)
        if args.first_view_only
        else ("scorecard_page", "scorecard_analysis", "scorecard_live")
    ):
        discard_result(name)
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    worker = None
    try:
        ensure_database(database_url)
        setup_django(database_url)
        database = database_label()
        if not database.startswith("postgresql"):
            raise BenchmarkError("this benchmark runs on PostgreSQL")
        load_seconds = ensure_dataset(sizes)
        from tandem.analytics import services as analytics_services
        from tandem.analytics.models import RollupState

        rollup_seconds = None
        built = RollupState.objects.filter(
            name__in=[analytics_services.STAGE_ENTRIES, analytics_services.STAGE_ENTRY_BLOCKS]
        ).count()
        if built < 2:
            print("Building the stage-entry rollup ...", flush=True)
            started = time.perf_counter()
            analytics_services.stage_entries_catch_up()
            rollup_seconds = round(time.perf_counter() - started, 1)
            print(f"Built in {rollup_seconds} s.")
        else:
            analytics_services.stage_entries_catch_up()  # what earlier runs left for a worker
        from django.db.models import Count
        from django.test import Client
        from django.utils import timezone

        from tandem.analytics.periods import containing
        from tandem.campaigns.models import Campaign
        from tandem.crm import services as crm_services
        from tandem.crm.models import Person
        from tandem.users.models import User

        leader = User.objects.get(email="leo@bench.example")
        client = Client()
        client.force_login(leader)
        owner = (
            Person.objects.filter(owner__isnull=False)
            .values("owner")
            .annotate(n=Count("id"))
            .order_by("-n")
            .first()["owner"]
        )
        params = {
            **sizes,
            "load_seconds": load_seconds,
            "rollup_build_seconds": rollup_seconds,
            "client": "django.test.Client, in-process",
            "requests": args.requests,
            "warmup": args.warmup,
            "load_average_at_start": _load(),
        }

        # The first look at the scorecard keeps the closed quarters as snapshots; time it apart. It is the
        # first view of this process in any case (cold caches), and the first ever when no snapshot was kept.
        from tandem.analytics.models import ScorecardSnapshot

        if args.first_view_only:
            ScorecardSnapshot.objects.all().delete()  # a fresh install: none kept yet
        params["snapshots_before_first_view"] = ScorecardSnapshot.objects.count()
        started = time.perf_counter()
        first = client.get("/scorecard/")
        if first.status_code != 200:
            raise BenchmarkError(f"GET /scorecard/ answered {first.status_code}")
        params["first_view_ms"] = round((time.perf_counter() - started) * 1000, 1)
        # A first view ever leaves the closed quarters to one task on the worker; run it here, timed, so
        # that the warm views below show the whole scorecard as they would once it ran.
        params["first_view_history_pending"] = 'id="history-pending"' in first.content.decode()
        started = time.perf_counter()
        params["snapshots_stored_by_worker_task"] = _snapshots_fill()
        params["snapshots_task_seconds"] = round(time.perf_counter() - started, 2)
        if args.first_view_only:
            second = client.get("/scorecard/")
            params["history_pending_after_task"] = 'id="history-pending"' in second.content.decode()
            params["load_average_at_end"] = _load()
            write_result(
                benchmark="scorecard_first_view",
                metric="first_view_ever_ms",
                value=params["first_view_ms"],
                unit="ms",
                target=TARGET_FIRST_VIEW_MS,
                params=params,
                database=database,
            )
            return 0
        page = measure_get(client, lambda index: "/scorecard/", count=args.requests, warmup=args.warmup)
        params["quarter"] = containing("quarter", timezone.localdate()).key

        from tandem.users.models import Team

        campaign = Campaign.objects.order_by("id").values_list("id", flat=True).first()
        team = Team.objects.filter(name__startswith="Bench team").order_by("id").values_list("id", flat=True).first()
        filters = {
            "none": "",
            "owner": f"owner={owner}",
            "team": f"team={team}",
            "icp_tier": "icp_tier=1",
            "industry": "industry=Software",
            "region": "region=EMEA",
            "campaign": f"campaign={campaign}",
            "channel": "channel=email",
            "region+icp_tier+channel": "region=EMEA&icp_tier=2&channel=events",
        }
        last_year = containing("year", timezone.localdate()).previous().key
        views = [(page, query) for page in PAGES for query in filters.values()]
        views += [
            (page, "&".join(filter(None, [filters[name], f"period={last_year}"])))
            for page in PAGES
            for name in ("none", "owner", "region", "channel")
        ]
        urls = [f"/scorecard/{page}/" + (f"?{query}" if query else "") for page, query in views]
        # The first analysis page this process shows: numpy's first use, the blocks not yet in memory.
        started = time.perf_counter()
        if client.get(urls[0]).status_code != 200:
            raise BenchmarkError(f"GET {urls[0]} failed")
        params["first_analysis_view_ms"] = round((time.perf_counter() - started) * 1000, 1)
        params["first_analysis_view"] = urls[0]
        per_view = {}
        for url in urls:
            own = measure_get(client, lambda index, url=url: url, count=max(3, args.requests // 8), warmup=1)
            per_view[url] = {"p95_ms": round(percentile(own, 95), 1), "median_ms": round(percentile(own, 50), 1)}
        worst = max(per_view, key=lambda url: per_view[url]["p95_ms"])

        # From here on a real worker runs, as in production, and counts new stage changes into the rollup.
        worker, worker_log = start_worker(database_url)
        time.sleep(3)

        # A new stage change, nothing else happening: how long until the scorecard counts it.
        before = _mqls(client)
        person = Person.objects.filter(lifecycle_stage_id="lead").order_by("id").first()
        changed_at = time.perf_counter()
        crm_services.lifecycle_transition(person=person, to_stage="mql", by=leader, reason="benchmark")
        after = _mqls(client)
        params["new_stage_change_shown_after_s"] = round(time.perf_counter() - changed_at, 3)
        params["mqls_before_after"] = [before, after]
        if after != before + 1:
            raise BenchmarkError(f"the new MQL did not show: {before} then {after}")
        write_result(
            benchmark="scorecard_page",
            metric="p95",
            value=percentile(page, 95),
            unit="ms",
            target=TARGET_PAGE_MS,
            params={**params, "url": "/scorecard/", "median_ms": round(percentile(page, 50), 1)},
            database=database,
        )

        # ... and until the analysis views (read from the rollup, which the worker catches up) count it.
        _wait_caught_up()  # the MQL above counted first
        funnel_url = "/scorecard/funnel/?from=mql"
        before = _funnel_entered(client, funnel_url)
        person = Person.objects.filter(lifecycle_stage_id="lead").order_by("id").first()
        changed_at = time.perf_counter()
        crm_services.lifecycle_transition(person=person, to_stage="mql", by=leader, reason="benchmark")
        while True:
            after = _funnel_entered(client, funnel_url)
            waited = time.perf_counter() - changed_at
            if after == before + 1 or waited > 120:
                break
            time.sleep(0.2)
        if after != before + 1:
            raise BenchmarkError(f"the new MQL did not show in the funnel: {before} then {after}")
        params["new_stage_change_in_analysis_after_s"] = round(waited, 3)
        write_result(
            benchmark="scorecard_analysis",
            metric="p95 of the slowest view",
            value=per_view[worst]["p95_ms"],
            unit="ms",
            target=TARGET_ANALYSIS_MS,
            params={**params, "slowest_view": worst, "views": len(per_view), "per_view": per_view},
            database=database,
        )
        print(f"slowest view: {worst} ({per_view[worst]['p95_ms']} ms p95)")

        live = measure_live(args, database_url, client, urls, worker_log)
        write_result(
            benchmark="scorecard_live",
            metric="p95 of the analysis views while stage changes arrive",
            value=live["p95_ms"],
            unit="ms",
            target=TARGET_ANALYSIS_MS,
            params={**params, **live, "visible_target_s": TARGET_VISIBLE_S},
            database=database,
        )
        _print_summary(params, page, per_view, worst, live)
    except BenchmarkError as error:
        print(f"Cannot benchmark: {error}", file=sys.stderr)
        return 1
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=60)
    return 0


def _wait_caught_up() -> None:
    from tandem.analytics import services as analytics_services

    started = time.monotonic()
    while analytics_services.stage_entries_behind():
        if time.monotonic() - started > 300:
            raise BenchmarkError("the worker did not catch the rollup up within five minutes")
        time.sleep(0.2)


def _load() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def start_worker(database_url: str) -> tuple[subprocess.Popen, Path]:
    """The real Huey consumer on the benchmark's database and Redis queue, periodic tasks included."""
    environment = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "tandem.settings"}
    log = Path(tempfile.mkdtemp(prefix="tandem-bench-scorecard-")) / "worker.log"
    with log.open("w") as handle:
        worker = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "tandem.cli", "manage", "run_huey", "--workers", "2"],
            cwd=ROOT, env=environment, stdout=handle, stderr=subprocess.STDOUT,
        )  # fmt: skip
    print(f"Worker started (log: {log}).", flush=True)
    return worker, log


def feed(seconds: float, rate: float) -> dict:
    """Record stage changes at `rate` a second for `seconds`, each through the lifecycle service in its own
    transaction (which queues the rollup's catch-up when it commits): random people, each to a random
    stage their lifecycle allows next. The probe people are left alone."""
    from django.core.exceptions import ValidationError

    from tandem.audit.actors import Actor
    from tandem.crm import services as crm_services
    from tandem.crm.models import LifecycleTransition, Person

    allowed: dict[str, list[str]] = {}
    for source, target in LifecycleTransition.objects.values_list("from_stage_id", "to_stage_id"):
        allowed.setdefault(source, []).append(target)
    low = Person.objects.order_by("id").values_list("id", flat=True).first()
    high = Person.objects.order_by("-id").values_list("id", flat=True).first()
    generator = random.Random(int(time.time()))
    actor = Actor.system("benchmark feed")
    recorded, refused, started = 0, 0, time.monotonic()
    while time.monotonic() - started < seconds:
        due = started + (recorded + refused) / rate
        if due > time.monotonic():
            time.sleep(due - time.monotonic())
        person = Person.objects.filter(id=generator.randint(low, high)).first()
        if person is None or person.email.startswith("probe-"):
            continue
        stages = allowed.get(person.lifecycle_stage_id) or []
        if not stages:
            refused += 1
            continue
        try:
            crm_services.lifecycle_transition(person=person, to_stage=generator.choice(stages), by=actor)
            recorded += 1
        except ValidationError:
            refused += 1
    return {"recorded": recorded, "refused": refused, "seconds": round(time.monotonic() - started, 1)}


def measure_live(args, database_url: str, client, urls: list[str], worker_log: Path) -> dict:
    """The analysis views timed one after another while stage changes arrive; probes of freshness."""
    from django.utils import timezone

    from tandem.audit.actors import Actor
    from tandem.crm import services as crm_services
    from tandem.users.models import Role, User

    probe_owner, _ = User.objects.get_or_create(
        email="probe-owner@bench.example", defaults={"full_name": "Probe Owner", "role": Role.AE}
    )
    run = int(time.time())
    probes_wanted = int(args.live_seconds // args.probe_seconds) + 1
    probe_people = [
        crm_services.person_create(
            by=Actor.system("benchmark"), email=f"probe-{run}-{index}@bench.example", owner=probe_owner
        )
        for index in range(probes_wanted)
    ]
    funnel_url = f"/scorecard/funnel/?from=mql&owner={probe_owner.pk}"
    scorecard_url = f"/scorecard/?owner={probe_owner.pk}"
    _wait_caught_up()  # the probe people's own creation counted, the worker idle again
    log_start = worker_log.stat().st_size
    load_before = _load()
    environment = {**os.environ, "DATABASE_URL": database_url}
    feeder = subprocess.Popen(  # noqa: S603
        [sys.executable, __file__, "--database-url", database_url, "--feed", str(args.live_seconds),
         "--arrivals", str(args.arrivals)],
        env=environment, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    print(
        f"Live phase: {args.live_seconds:.0f} s, {args.arrivals} stage changes a second, a probe MQL every "
        f"{args.probe_seconds:.0f} s ...",
        flush=True,
    )
    timings: list[float] = []
    shown_on_scorecard: list[float] = []
    shown_in_analysis: list[float] = []
    pending = None  # (probe's funnel count before, moment of its change)
    started = time.perf_counter()
    next_probe = started + 2
    index = 0
    while time.perf_counter() - started < args.live_seconds:
        if pending is None and time.perf_counter() >= next_probe and probe_people:
            person = probe_people.pop()
            before = _funnel_entered(client, funnel_url)
            mqls = _mqls(client, scorecard_url)
            changed_at = time.perf_counter()
            crm_services.lifecycle_transition(person=person, to_stage="mql", by=Actor.system("benchmark probe"))
            if _mqls(client, scorecard_url) != mqls + 1:
                raise BenchmarkError("a probe MQL was not counted on the scorecard by the next request")
            shown_on_scorecard.append(time.perf_counter() - changed_at)
            pending = (before, changed_at)
            next_probe = changed_at + args.probe_seconds
        url = urls[index % len(urls)]
        index += 1
        request_started = time.perf_counter()
        if client.get(url).status_code != 200:
            raise BenchmarkError(f"GET {url} failed under load")
        timings.append((time.perf_counter() - request_started) * 1000)
        if pending is not None and _funnel_entered(client, funnel_url) == pending[0] + 1:
            shown_in_analysis.append(time.perf_counter() - pending[1])
            pending = None
    load_after = _load()
    output, _ = feeder.communicate(timeout=120)
    if feeder.returncode != 0:
        raise BenchmarkError(f"the stage-change feed failed ({feeder.returncode})")
    fed = json.loads(output.strip().splitlines()[-1])
    if pending is not None:  # the last probe: wait for it, up to two minutes
        while _funnel_entered(client, funnel_url) != pending[0] + 1:
            if time.perf_counter() - pending[1] > 120:
                raise BenchmarkError("a probe MQL did not show in the funnel within two minutes")
            time.sleep(0.2)
        shown_in_analysis.append(time.perf_counter() - pending[1])
    with worker_log.open() as handle:
        handle.seek(log_start)
        log = handle.read()
    runs = [float(value) for value in re.findall(r"stage_entries_catch_up_queued: [^\n]*? executed in ([0-9.]+)s", log)]
    periodic = [float(value) for value in re.findall(r"\.stage_entries_catch_up: [^\n]*? executed in ([0-9.]+)s", log)]
    reconciled = re.findall(r"stage_entries_reconcile: [^\n]*? executed in ([0-9.]+)s", log)
    return {
        "p95_ms": round(percentile(timings, 95), 1),
        "max_ms": round(max(timings), 1),
        "median_ms": round(percentile(timings, 50), 1),
        "views_timed": len(timings),
        "live_seconds": args.live_seconds,
        "arrivals_per_second": args.arrivals,
        "stage_changes_fed": fed,
        "probes": len(shown_in_analysis),
        "shown_on_scorecard_s": {
            "median": round(percentile(shown_on_scorecard, 50), 3),
            "max": round(max(shown_on_scorecard), 3),
        },
        "shown_in_analysis_s": {
            "median": round(percentile(shown_in_analysis, 50), 3),
            "max": round(max(shown_in_analysis), 3),
            "each": [round(value, 2) for value in shown_in_analysis],
        },
        "queued_catch_ups": {
            "runs": len(runs),
            "median_s": round(percentile(runs, 50), 3) if runs else None,
            "max_s": round(max(runs), 3) if runs else None,
        },
        "periodic_catch_ups_s": periodic,
        "reconcile_ran_s": [float(value) for value in reconciled],
        "load_average_before": load_before,
        "load_average_after": load_after,
        "when": timezone.now().isoformat(timespec="seconds"),
    }


def _snapshots_fill() -> int:
    """What the task a first view queues does on the worker: keep the closed quarters shown beside this one."""
    from django.utils import timezone

    from tandem.analytics import services
    from tandem.analytics.periods import containing
    from tandem.analytics.selectors import ScorecardFilters
    from tandem.analytics.views import HISTORY_PERIODS

    quarter = containing("quarter", timezone.localdate())
    return services.scorecard_snapshots_fill(filters=ScorecardFilters(), periods=quarter.history(HISTORY_PERIODS)[:-1])


def _print_summary(params: dict, page: list[float], per_view: dict, worst: str, live: dict) -> None:
    rows = [
        (
            "scorecard page, first view" + ("" if params["snapshots_before_first_view"] else " ever (keeps snapshots)"),
            f"{params['first_view_ms']} ms",
            "",
        ),
        ("scorecard page, warm p95", f"{percentile(page, 95):.1f} ms", f"{TARGET_PAGE_MS} ms"),
        ("first analysis view of the process", f"{params['first_analysis_view_ms']} ms", ""),
        ("slowest analysis view p95, quiet", f"{per_view[worst]['p95_ms']} ms", f"{TARGET_ANALYSIS_MS} ms"),
        ("analysis views under arrivals, p95", f"{live['p95_ms']} ms", f"{TARGET_ANALYSIS_MS} ms"),
        ("analysis views under arrivals, max", f"{live['max_ms']} ms", ""),
        ("new stage change on the scorecard (quiet)", f"{params['new_stage_change_shown_after_s']} s", "60 s"),
        ("new stage change on analysis pages (quiet)", f"{params['new_stage_change_in_analysis_after_s']} s", "60 s"),
        ("probe MQL on the scorecard, max", f"{live['shown_on_scorecard_s']['max']} s", "60 s"),
        ("probe MQL on analysis pages, median / max", f"{live['shown_in_analysis_s']['median']} / "
         f"{live['shown_in_analysis_s']['max']} s", "60 s"),
        ("worker catch-up runs (median / max)", f"{live['queued_catch_ups']['runs']} "
         f"({live['queued_catch_ups']['median_s']} / {live['queued_catch_ups']['max_s']} s)", ""),
    ]  # fmt: skip
    print()
    for label, value, target in rows:
        print(f"  {label:<45} {value:>22}   {('target ' + target) if target else ''}")
    print(f"  load average: start {params['load_average_at_start']}, live phase {live['load_average_before']}"
          f" -> {live['load_average_after']}")  # fmt: skip


def _funnel_entered(client, url: str) -> int:
    """The funnel's first figure: the people who entered its first stage in the period."""
    html = client.get(url).content.decode()
    found = re.search(
        r'id="funnel-table".*?<tbody><tr><td>[^<]*</td><td class="num"><a href="[^"]*">([0-9,]+)</a>', html, re.S
    )
    if found is None:
        raise BenchmarkError("the funnel page shows no figures")
    return int(found.group(1).replace(",", ""))


def _mqls(client, url: str = "/scorecard/") -> int:
    """The MQL tile's value as the page shows it."""
    html = client.get(url).content.decode()
    found = re.search(r'id="kpi-mqls" data-value="([0-9.]+)"', html)
    if found is None:
        raise BenchmarkError("the scorecard shows no MQL tile")
    return int(float(found.group(1)))


if __name__ == "__main__":
    sys.exit(main())
