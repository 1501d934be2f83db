"""handoff_sla_report: the SLA compliance report over 1,000,000 hand-offs, p95 in milliseconds.

    python bench/handoff_sla_report.py               # 1,000,000 hand-offs (loaded once with COPY, then reused)
    python bench/handoff_sla_report.py --handoffs 200000

Needs PostgreSQL: the data goes into its own database (default
postgres://root@127.0.0.1:5432/tandem_bench_sla, created when missing). 60 reps in 6 teams, 20,000
people, hand-offs spread over two years with a policy, a status (met, breached, a few pending)
and, when answered, the response time in business minutes, as the clock stores them. The timed
calls are the report the page shows: compliance with median and p90 response time by rep, by team
per month, by segment per quarter, by policy, and by rep over the last 90 days. Target: p95 <= 500 ms.
"""

import argparse
import datetime as dt
import io
import os
import random
import sys
import time

from _common import BenchmarkError, database_label, discard_result, percentile, setup_django, write_result

BENCHMARK = "handoff_sla_report"
TARGET_P95_MS = 500
DEFAULT_DATABASE_URL = "postgres://root@127.0.0.1:5432/tandem_bench_sla"
HANDOFFS = 1_000_000
PEOPLE = 20_000
TEAMS = 6
REPS_PER_TEAM = 10
PENDING = 5_000
SEGMENTS = ("", "Enterprise", "Mid-market", "SMB")
AS_OF = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
RUNS = 6
WARMUP = 1


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--handoffs", type=int, default=HANDOFFS)
    parser.add_argument("--database-url", default=os.environ.get("TANDEM_BENCH_SLA_URL", DEFAULT_DATABASE_URL))
    parser.add_argument("--runs", type=int, default=RUNS)
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
SELECT 'person' || g || '@bench.example', '', '', '', '', 'sal', '', '', '', '', '', '', '', false, false,
    '{}', %(as_of)s, %(as_of)s, %(as_of)s, %(as_of)s
FROM generate_series(1, %(people)s) g
"""

COLUMNS = (
    "person_id, assignee_id, team_id, status, routing_rule, routing_reason, contract_version, segment, icp_tier, "
    "source, created_at, routed_at, accepted_at, rejection_reason, rejection_outcome, rejection_note, sla_policy, "
    "due_at, first_response_at, sla_status, response_business_minutes"
)


def _rows(count: int, people: list[int], reps: list[tuple[int, int]]):
    """Tab-separated hand-off rows: mostly answered within the hour or four, a tail much later."""
    generator = random.Random(7)
    span = 730 * 86400
    for index in range(count):
        assignee, team = reps[generator.randrange(len(reps))]
        tier = generator.choice((1, 2, 2, 3))
        policy, allowed = ("tier_1", 60) if tier == 1 else ("standard", 240)
        created = AS_OF - dt.timedelta(seconds=generator.randrange(span))
        due = created + dt.timedelta(hours=allowed / 60 * 3)
        segment = SEGMENTS[generator.randrange(len(SEGMENTS))]
        if index < PENDING:
            # Open hand-offs: one per person, clock still running.
            person, status, sla, minutes, responded, accepted = people[index], "pending", "pending", None, None, None
        else:
            person = people[generator.randrange(len(people))]
            minutes = round(generator.lognormvariate(3.6 if tier == 1 else 4.6, 0.9), 2)
            sla = "met" if minutes <= allowed else "breached"
            responded = created + dt.timedelta(minutes=minutes * 2.5)
            status, accepted = "accepted", responded
        yield (
            "\t".join(
                (
                    str(person),
                    str(assignee),
                    str(team),
                    status,
                    "Round robin",
                    "bench",
                    "1",
                    segment,
                    str(tier),
                    "web",
                    created.isoformat(),
                    created.isoformat(),
                    accepted.isoformat() if accepted else r"\N",
                    "",
                    "",
                    "",
                    policy,
                    due.isoformat(),
                    responded.isoformat() if responded else r"\N",
                    sla,
                    str(minutes) if minutes is not None else r"\N",
                )
            )
            + "\n"
        )


def ensure_dataset(handoffs: int) -> dict:
    from django.core.management import call_command
    from django.db import connection

    from tandem.crm.models import Person
    from tandem.handoff.models import Handoff
    from tandem.sla.models import SlaMonthlyRollup
    from tandem.sla.selectors import months_with_handoffs
    from tandem.sla.services import sla_rollup_refresh
    from tandem.users.models import Role, Side, Team, User

    call_command("migrate", verbosity=0)
    if Handoff.objects.count() == handoffs:
        print(f"Reusing {handoffs:,} hand-offs.")
        if not SlaMonthlyRollup.objects.exists():
            started = time.monotonic()
            months = sla_rollup_refresh(months=months_with_handoffs())
            print(f"Rolled up {months} months in {time.monotonic() - started:.1f} s.")
        return {"load_seconds": None}
    print(f"Loading {handoffs:,} hand-offs with COPY ...")
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE handoff_handoff, crm_person CASCADE")
    if Person.objects.count() == 0:
        with connection.cursor() as cursor:
            cursor.execute(GENERATE_PEOPLE, {"people": PEOPLE, "as_of": AS_OF})
    people = list(Person.objects.order_by("pk").values_list("pk", flat=True))
    reps = []
    for team_index in range(TEAMS):
        team, _ = Team.objects.get_or_create(name=f"Bench sales {team_index + 1}", defaults={"side": Side.SALES})
        for rep_index in range(REPS_PER_TEAM):
            user, _ = User.objects.get_or_create(
                email=f"rep{team_index}-{rep_index}@bench.example",
                defaults={"role": Role.SDR, "team": team, "full_name": f"Rep {team_index}-{rep_index}"},
            )
            reps.append((user.pk, team.pk))
    raw = connection.connection  # psycopg 3
    with raw.cursor() as cursor, cursor.copy(f"COPY handoff_handoff ({COLUMNS}) FROM STDIN") as copy:
        buffer = io.StringIO()
        for number, row in enumerate(_rows(handoffs, people, reps), 1):
            buffer.write(row)
            if number % 50_000 == 0:
                copy.write(buffer.getvalue())
                buffer = io.StringIO()
        copy.write(buffer.getvalue())
    raw.commit() if not raw.autocommit else None
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE handoff_handoff")
    seconds = round(time.monotonic() - started, 1)
    print(f"Loaded in {seconds} s.")
    started = time.monotonic()
    months = sla_rollup_refresh(months=months_with_handoffs())
    rollup_seconds = round(time.monotonic() - started, 1)
    print(f"Rolled up {months} months in {rollup_seconds} s.")
    return {"load_seconds": seconds, "rollup_seconds": rollup_seconds, "rollup_months": months}


def measure(runs: int) -> tuple[list[float], dict]:
    from tandem.sla.selectors import sla_compliance

    last_quarter = (AS_OF - dt.timedelta(days=92)).date()
    variants = {
        "by_rep": {"group_by": "rep"},
        "by_team_per_month": {"group_by": "team", "period": "month"},
        "by_segment_per_quarter": {"group_by": "segment", "period": "quarter"},
        "by_policy": {"group_by": "policy"},
        "by_rep_last_3_months": {"group_by": "rep", "first_month": last_quarter, "last_month": AS_OF.date()},
    }
    timings, per_variant, rows = [], {}, {}
    for name, arguments in variants.items():
        for _ in range(WARMUP):
            sla_compliance(**arguments)
        own = []
        for _ in range(runs):
            started = time.perf_counter()
            result = sla_compliance(**arguments)
            own.append((time.perf_counter() - started) * 1000)
        if not result:
            raise BenchmarkError(f"the {name} report returned no rows")
        rows[name] = len(result)
        per_variant[name] = round(percentile(own, 50), 1)
        timings += own
    total = sum(row.handoffs for row in sla_compliance(group_by="rep"))
    return timings, {"median_ms_by_variant": per_variant, "rows_by_variant": rows, "handoffs_counted": total}


def main(argv=None) -> int:
    args = parse_args(argv)
    discard_result(BENCHMARK)
    try:
        if not args.database_url.startswith("postgres"):
            raise BenchmarkError("the SLA report benchmark measures the PostgreSQL path; give a postgres:// URL")
        ensure_database(args.database_url)
        setup_django(args.database_url)
        database = database_label()
        print(f"Database: {database} at {args.database_url.split('@')[-1]}")
        load = ensure_dataset(args.handoffs)
        timings, details = measure(args.runs)
        if details["handoffs_counted"] != args.handoffs:
            raise BenchmarkError(f"the report counted {details['handoffs_counted']:,} hand-offs of {args.handoffs:,}")
    except BenchmarkError as error:
        print(f"{BENCHMARK}: FAILED: {error}", file=sys.stderr)
        return 1
    write_result(
        benchmark=BENCHMARK,
        metric="p95",
        value=percentile(timings, 95),
        unit="ms",
        target=TARGET_P95_MS,
        params={
            "handoffs": args.handoffs,
            "people": PEOPLE,
            "reps": TEAMS * REPS_PER_TEAM,
            "runs_per_variant": args.runs,
            "median_ms": round(percentile(timings, 50), 1),
            **load,
            **details,
        },
        database=database,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
