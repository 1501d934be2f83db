"""contract_backtest: seconds for the what-if backtest of a proposal over the last 12 months.

    python bench/contract_backtest.py            # 100,000 people, 1,000,000 touchpoints: a minute or two
    python bench/contract_backtest.py --full     # 1,000,000 people, 10,000,000 touchpoints (or TANDEM_BENCH_FULL=1)

Needs PostgreSQL: the data is generated with generate_series into its own database (default
postgres://root@127.0.0.1:5432/tandem_bench_backtest, tandem_bench_backtest_full with --full;
created when missing) and reused by later runs of the same size. The company looks like a B2B
marketing database: accounts with industries, sizes and regions; people with titles and buying
roles (about a fifth fit the default ideal customer profile); two years of touchpoints, mostly page
views and email, bunched around each person's own buying weeks, with a few very active people; and
a stage history for everyone: created as a lead or subscriber, and for one in eight, MQL in those
weeks, then SAL, SQL, opportunity and customer, or rejected by sales back to recycled or
disqualified with the hand-off's reason.

The figure is the median of RUNS runs of tandem.contract.backtest.contract_backtest (the default
contract in force against a proposal that raises the engagement bar and changes two rules, the
same call the proposal page makes), against the target of 10 s at 1,000,000 people and
10,000,000 touchpoints.
"""

import argparse
import datetime as dt
import os
import statistics
import sys
import time

from _common import BenchmarkError, database_label, discard_result, setup_django, write_result

BENCHMARK = "contract_backtest"
TARGET_SECONDS = 10.0
RUNS = 3
MONTHS = 12
SMALL = {"people": 100_000, "touchpoints": 1_000_000}
FULL = {"people": 1_000_000, "touchpoints": 10_000_000}
PEOPLE_PER_ACCOUNT = 10
HISTORY_DAYS = 730
DEFAULT_DATABASE_URL = "postgres://root@127.0.0.1:5432/tandem_bench_backtest"
# The full size lives in a database of its own, so that switching sizes does not generate again.
FULL_DATABASE_URL = "postgres://root@127.0.0.1:5432/tandem_bench_backtest_full"
AS_OF = dt.datetime(2025, 6, 30, 12, 0, tzinfo=dt.UTC)


def proposal_source(default: str) -> str:
    """The default contract with a higher engagement bar, more points for webinars and fewer for page views."""
    changes = [
        ("engagement_score_at_least: 40", "engagement_score_at_least: 45"),
        (
            "{name: Webinar, touchpoint: webinar, points: 15, cap: 30}",
            "{name: Webinar, touchpoint: webinar, points: 20, cap: 40}",
        ),
        (
            "{name: Page view, touchpoint: page_view, points: 2, cap: 20, group: web}",
            "{name: Page view, touchpoint: page_view, points: 1, cap: 10, group: web}",
        ),
    ]
    source = default
    for old, new in changes:
        if old not in source:
            raise BenchmarkError(f"the default contract no longer holds {old!r}; update the benchmark's proposal")
        source = source.replace(old, new)
    return source


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", default=os.environ.get("TANDEM_BENCH_FULL") == "1")
    parser.add_argument("--people", type=int)
    parser.add_argument("--touchpoints", type=int)
    parser.add_argument("--database-url", default=os.environ.get("TANDEM_BENCH_BACKTEST_URL"))
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--months", type=int, default=MONTHS)
    return parser.parse_args(argv)


def ensure_database(database_url: str) -> None:
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    server = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(server, autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')


GENERATE_ACCOUNTS = """
INSERT INTO crm_account (name, domain, industry, employee_count, country, region, is_target_account,
    custom_fields, created_at, updated_at)
SELECT 'Company ' || g, 'company' || g || '.example',
    (ARRAY['Software', 'Software', 'Financial services', 'Marketing & advertising', 'Manufacturing', 'Retail',
        'Healthcare', 'Education', 'Government', ''])[1 + floor(random() * 10)::int],
    CASE WHEN random() < 0.1 THEN NULL ELSE floor(exp(random() * ln(20000)))::int END,
    '', (ARRAY['North America', 'North America', 'EMEA', 'EMEA', 'APAC', 'LATAM', ''])[1 + floor(random() * 7)::int],
    false, '{}', %(as_of)s - interval '900 days', %(as_of)s - interval '900 days'
FROM generate_series(1, %(accounts)s) g
"""

# Everyone is created as a lead (most) or a subscriber some time in the last 900 days.
GENERATE_PEOPLE = """
INSERT INTO crm_person (email, first_name, last_name, title, phone, account_id, lifecycle_stage_id, source,
    utm_source, utm_medium, utm_campaign, utm_term, utm_content, buying_role, consent_email, consent_tracking,
    custom_fields, stage_entered_at, last_activity_at, created_at, updated_at)
SELECT 'person' || g || CASE WHEN random() < 0.08 THEN '@gmail.com' ELSE '@bench.example' END, '', '',
    (ARRAY['VP Marketing', 'Head of Growth', 'Director of Demand Generation', 'Chief Revenue Officer',
        'Marketing Manager', 'Marketing Manager', 'Sales Representative', 'Software Engineer', 'Analyst',
        'Intern', 'Account Executive', ''])[1 + floor(random() * 12)::int],
    '',
    CASE WHEN random() < 0.9 THEN %(first_account)s + floor(random() * %(accounts)s)::bigint END,
    CASE WHEN random() < 0.85 THEN 'lead' ELSE 'subscriber' END, '', '', '', '', '', '',
    (ARRAY['', '', '', 'Decision maker', 'Champion', 'Influencer', 'User', 'Economic buyer'])
        [1 + floor(random() * 8)::int],
    false, false, '{}', c.created, c.created, c.created, c.created
FROM generate_series(1, %(people)s) g
CROSS JOIN LATERAL (SELECT %(as_of)s - random() * interval '900 days' + g * interval '0' AS created) c
"""

FIRST_STAGES = """
INSERT INTO crm_stagechange (person_id, from_stage_id, to_stage_id, at, actor_type, actor_label, reason, evidence)
SELECT id, NULL, lifecycle_stage_id, created_at, 'import', 'Import', 'Created', '{}' FROM crm_person
"""

# Each person's path after creation: about one in eight became MQL, in the weeks of their busiest
# touchpoints (see GENERATE_TOUCHPOINTS); of those some were rejected
# (most back to recycled, some disqualified), the others accepted and some went further. A step
# that would fall after AS_OF did not happen, and neither did the steps after it.
PLAN_PATHS = """
CREATE TEMPORARY TABLE bench_path AS
SELECT p.id, p.lifecycle_stage_id AS first_stage, m.mql_at,
    m.mql_at + random() * interval '6 days' AS decided_at,
    r.rejected, r.reason, r.outcome,
    random() < 0.55 AS to_sql, random() < 0.5 AS to_opportunity, random() < 0.4 AS to_customer,
    random() * interval '40 days' AS sql_after, random() * interval '60 days' AS opportunity_after,
    random() * interval '90 days' AS customer_after
FROM crm_person p
CROSS JOIN LATERAL (
    SELECT least(%(as_of)s, greatest(p.created_at,
        %(as_of)s - ((p.id * 7919) %% 700) * interval '1 day' + random() * interval '25 days')) AS mql_at
) m
CROSS JOIN LATERAL (
    SELECT random() < 0.3 AS rejected,
        'Hand-off rejected: ' || (ARRAY['Not our ICP', 'No budget', 'Bad contact data', 'Student or competitor',
            'Duplicate', 'Bad timing', 'Bad timing', 'No budget'])[1 + floor(random() * 8 + p.id * 0)::int]
            || CASE WHEN random() < 0.1 THEN ' (called twice)' ELSE '' END AS reason,
        random() AS outcome
) r
WHERE random() < 0.125
"""

PATH_STAGES = """
INSERT INTO crm_stagechange (person_id, from_stage_id, to_stage_id, at, actor_type, actor_label, reason, evidence)
SELECT id, from_stage, to_stage, at, actor_type, actor_label, reason, '{}' FROM (
    SELECT id, first_stage AS from_stage, 'mql' AS to_stage, mql_at AS at, 'rule' AS actor_type,
        'MQL rule, contract v1' AS actor_label, 'MQL because fit and engagement met the thresholds' AS reason
    FROM bench_path
    UNION ALL
    SELECT id, 'mql', CASE WHEN outcome < 0.7 THEN 'recycled' ELSE 'disqualified' END, decided_at, 'user', 'Sales',
        reason FROM bench_path WHERE rejected
    UNION ALL
    SELECT id, 'mql', 'sal', decided_at, 'user', 'Sales', 'Hand-off accepted' FROM bench_path WHERE NOT rejected
    UNION ALL
    SELECT id, 'sal', 'sql', decided_at + sql_after, 'user', 'Sales', 'Qualified on a call'
    FROM bench_path WHERE NOT rejected AND to_sql
    UNION ALL
    SELECT id, 'sql', 'opportunity', decided_at + sql_after + opportunity_after, 'user', 'Sales', 'Opportunity opened'
    FROM bench_path WHERE NOT rejected AND to_sql AND to_opportunity
    UNION ALL
    SELECT id, 'opportunity', 'customer', decided_at + sql_after + opportunity_after + customer_after, 'user', 'Sales',
        'Closed won'
    FROM bench_path WHERE NOT rejected AND to_sql AND to_opportunity AND to_customer
) steps
WHERE at <= %(as_of)s
"""

CURRENT_STAGES = """
UPDATE crm_person p SET lifecycle_stage_id = last.to_stage_id, stage_entered_at = last.at
FROM (
    SELECT DISTINCT ON (person_id) person_id, to_stage_id, at FROM crm_stagechange
    WHERE person_id IN (SELECT id FROM bench_path) ORDER BY person_id, at DESC, id DESC
) last
WHERE p.id = last.person_id
"""

# Touchpoint types weighted like a marketing database: mostly page views and email, few meetings.
# A few people are far more active than the rest (the power on random()), and most of a person's
# touchpoints bunch in the weeks around one moment of their own, as a buying journey does.
GENERATE_TOUCHPOINTS = """
INSERT INTO engagement_touchpoint (person_id, anonymous_id, type, channel, campaign_id, utm_source, utm_medium,
    utm_campaign, utm_term, utm_content, url, referrer, occurred_at, properties)
SELECT p.person_id, '',
    k.type, '', CASE WHEN k.type = 'webinar' THEN (%(campaigns)s::bigint[])[1 + floor(random() * 3)::int] END,
    '', '', '', '', '',
    CASE WHEN k.type = 'page_view' THEN (ARRAY['https://bench.example/pricing', 'https://bench.example/product/a',
        'https://bench.example/blog/x', 'https://bench.example/careers', 'https://bench.example/',
        'https://bench.example/Pricing?plan=team', 'https://bench.example/product/b', 'https://bench.example/docs',
        'https://bench.example/blog/y', 'https://bench.example/customers'])
        [1 + floor(random() * 10)::int] ELSE '' END,
    '',
    CASE WHEN random() < 0.6
        THEN %(as_of)s - ((p.person_id * 7919) %% 700) * interval '1 day' - random() * interval '30 days'
        ELSE %(as_of)s - random() * interval '730 days' END,
    CASE WHEN k.type = 'email_click' AND random() < 0.05 THEN '{"action": "unsubscribe"}'::jsonb ELSE '{}'::jsonb END
FROM generate_series(1, %(touchpoints)s) g
CROSS JOIN LATERAL (
    SELECT %(first_person)s + floor(power(random(), 1.3) * %(people)s)::bigint + g * 0 AS person_id, random() AS draw
) p
CROSS JOIN LATERAL (
    SELECT CASE
        WHEN p.draw < 0.50 THEN 'page_view' WHEN p.draw < 0.70 THEN 'email_open' WHEN p.draw < 0.82 THEN 'email_sent'
        WHEN p.draw < 0.88 THEN 'email_click' WHEN p.draw < 0.92 THEN 'ad_click'
        WHEN p.draw < 0.95 THEN 'content_download' WHEN p.draw < 0.975 THEN 'form_submit'
        WHEN p.draw < 0.99 THEN 'webinar' WHEN p.draw < 0.995 THEN 'event' ELSE 'meeting_booked' END AS type
) k
"""


def ensure_dataset(sizes: dict) -> dict:
    from django.core.management import call_command
    from django.db import connection

    from tandem.campaigns.models import Campaign
    from tandem.crm.models import Account, Person
    from tandem.engagement import partitions
    from tandem.engagement.models import Touchpoint

    call_command("migrate", verbosity=0)
    people = Person.objects.count()
    touchpoints = Touchpoint.objects.count()
    if (people, touchpoints) == (sizes["people"], sizes["touchpoints"]):
        print(f"Reusing {people:,} people and {touchpoints:,} touchpoints.")
        return {"load_seconds": None}
    print(f"Generating {sizes['people']:,} people and {sizes['touchpoints']:,} touchpoints ...")
    started = time.monotonic()
    accounts = max(1, sizes["people"] // PEOPLE_PER_ACCOUNT)
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE crm_person, crm_account, crm_stagechange, engagement_touchpoint, campaigns_campaign CASCADE"
        )
        cursor.execute(GENERATE_ACCOUNTS, {"accounts": accounts, "as_of": AS_OF})
        first_account = Account.objects.order_by("id").values_list("id", flat=True).first()
        cursor.execute(
            GENERATE_PEOPLE,
            {"people": sizes["people"], "accounts": accounts, "first_account": first_account, "as_of": AS_OF},
        )
        cursor.execute(FIRST_STAGES)
        cursor.execute(PLAN_PATHS, {"as_of": AS_OF})
        cursor.execute(PATH_STAGES, {"as_of": AS_OF})
        cursor.execute(CURRENT_STAGES)
        cursor.execute("DROP TABLE bench_path")
    campaigns = [
        Campaign.objects.create(name=name, channel="webinar", created_at=AS_OF, updated_at=AS_OF).pk
        for name in ("Q3 webinar", "Q4 webinar", "Partner webinar")
    ]
    first_person = Person.objects.order_by("id").values_list("id", flat=True).first()
    months = [AS_OF - dt.timedelta(days=days) for days in range(0, HISTORY_DAYS + 31, 28)]
    partitions.ensure_for(months)
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
        for table in ("crm_account", "crm_person", "crm_stagechange", "engagement_touchpoint"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    seconds = round(time.monotonic() - started, 1)
    print(f"Generated in {seconds} s.")
    return {"load_seconds": seconds}


def versions():
    """The version in force (the default contract) and the proposal, as the proposal page passes them."""
    from tandem.contract.document import default_source, parse_source
    from tandem.contract.models import ContractVersion

    found = []
    for number, source in ((1, default_source()), (2, proposal_source(default_source()))):
        document, problems = parse_source(source)
        if problems:
            raise BenchmarkError(f"v{number} of the benchmark's contract has problems: {problems[0]}")
        found.append(ContractVersion(number=number, source=source, document=document, problems=[]))
    return found


def measure(runs: int, months: int) -> dict:
    from tandem.contract import backtest
    from tandem.contract.backtest import contract_backtest

    current, proposed = versions()
    seconds, steps, result = [], [], None
    for run_number in range(runs):
        started = time.perf_counter()
        result = contract_backtest(proposed=proposed, current=current, months=months, end=AS_OF)
        seconds.append(time.perf_counter() - started)
        steps.append(dict(backtest.last_step_seconds))
        print(f"    steps: {steps[-1]}")
        print(
            f"  run {run_number + 1}: {seconds[-1]:.2f} s; MQLs {result.current.mqls:,} (v1) / "
            f"{result.proposed.mqls:,} (v2), customers {result.current.reached.get('customer', 0):,} / "
            f"{result.proposed.reached.get('customer', 0):,}"
        )
    if result is None or not result.current.mqls:
        raise BenchmarkError("the backtest found no would-be MQL; the data set cannot show a difference")
    return {
        "median_seconds": statistics.median(seconds),
        "params": {
            "runs": runs,
            "months": months,
            "seconds_per_run": [round(value, 2) for value in seconds],
            "step_seconds_per_run": steps,
            "people_in_backtest": result.people,
            "touchpoints_in_backtest": result.touchpoints,
            "mqls": {"current": result.current.mqls, "proposed": result.proposed.mqls},
            "reached": {"current": result.current.reached, "proposed": result.proposed.reached},
            "rejected": {"current": result.current.rejected, "proposed": result.proposed.rejected},
            "path": "tandem.contract.backtest.contract_backtest, default contract against a proposal",
        },
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    sizes = dict(FULL if args.full else SMALL)
    if args.people:
        sizes["people"] = args.people
    if args.touchpoints:
        sizes["touchpoints"] = args.touchpoints
    database_url = args.database_url or (FULL_DATABASE_URL if args.full else DEFAULT_DATABASE_URL)
    discard_result(BENCHMARK)
    try:
        if not database_url.startswith("postgres"):
            raise BenchmarkError("the backtest benchmark measures the PostgreSQL path; give a postgres:// URL")
        ensure_database(database_url)
        setup_django(database_url)
        database = database_label()
        print(f"Database: {database} at {database_url.split('@')[-1]}")
        load = ensure_dataset(sizes)
        backtest = measure(args.runs, args.months)
    except BenchmarkError as error:
        print(f"{BENCHMARK}: FAILED: {error}", file=sys.stderr)
        return 1
    write_result(
        benchmark=BENCHMARK,
        metric="seconds",
        value=backtest["median_seconds"],
        unit="s",
        target=TARGET_SECONDS,
        params={**sizes, **load, "as_of": AS_OF.isoformat(), **backtest["params"]},
        database=database,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
