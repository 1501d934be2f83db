"""handoff_route: route a burst of 10,000 new MQLs to reps, seconds; and how far the fairness ledger strays.

    python bench/handoff_route.py                  # 10,000 MQLs on PostgreSQL (the issue's size)
    python bench/handoff_route.py --mqls N --database-url sqlite:////tmp/handoff_bench.sqlite3

The database (default postgres://root@127.0.0.1:5432/tandem_bench_handoff, created and migrated when
missing) gets 12 reps in two teams with weights 1 to 3, a routing section of three rules (EMEA by
region, large North American accounts by size, everyone else), 2,000 accounts and N people who have
just become MQL, some owned through their account. The figure is the seconds of one handoffs_route
call over the whole burst: what the worker's routing task does when a burst arrives (load the rules,
reps, balances and facts once, decide in memory, write hand-offs, ledger lines and balances in bulk).
Target: 10 s. The check: every rep's assigned leads within 1 of their expected share by weight, read
back from the ledger lines, or the benchmark fails.
"""

import argparse
import datetime as dt
import os
import sys
import time

from _common import BenchmarkError, database_label, discard_result, setup_django, write_result

BENCHMARK = "handoff_route"
TARGET_SECONDS = 10.0
MQLS = 10_000
ACCOUNTS = 2_000
DEFAULT_DATABASE_URL = "postgres://root@127.0.0.1:5432/tandem_bench_handoff"
AT = dt.datetime(2026, 11, 23, 14, 0, tzinfo=dt.UTC)
REPS = [  # email, team, weight
    ("ana@bench.test", "Bench EMEA", 1),
    ("bo@bench.test", "Bench EMEA", 2),
    ("cy@bench.test", "Bench EMEA", 3),
    ("di@bench.test", "Bench EMEA", 1),
    ("ed@bench.test", "Bench Americas", 1),
    ("fay@bench.test", "Bench Americas", 2),
    ("gus@bench.test", "Bench Americas", 3),
    ("hal@bench.test", "Bench Americas", 1),
    ("ivy@bench.test", "Bench Americas", 2),
    ("jo@bench.test", "Bench Americas", 3),
    ("kit@bench.test", "Bench Americas", 1),
    ("lu@bench.test", "Bench Americas", 2),
]
REGIONS = ["EMEA", "North America", "APAC", "LATAM"]


def routing_section() -> dict:
    emea = [{"email": email, "weight": weight} for email, team, weight in REPS if team == "Bench EMEA"]
    americas = [{"email": email, "weight": weight} for email, team, weight in REPS if team == "Bench Americas"]
    return {
        "owner_first": True,
        "daily_cap": 10_000,
        "rules": [
            {"name": "EMEA", "when": 'account.region == "EMEA"', "team": "Bench EMEA", "reps": emea},
            {
                "name": "Large North America",
                "when": 'account.region == "North America" and account.employee_count >= 1000',
                "team": "Bench Americas",
                "reps": americas[:4],
            },
            {"name": "Everyone else", "team": "Bench Americas", "reps": americas},
        ],
    }


def ensure_database(database_url: str) -> None:
    if not database_url.startswith("postgres"):
        return
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    server = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(server, autocommit=True) as connection:
        if not connection.execute("select 1 from pg_database where datname = %s", (name,)).fetchone():
            connection.execute(f'create database "{name}"')


def prepare(mqls: int) -> list[int]:
    """Fresh reps, routing section, accounts and MQLs; returns the people's ids."""
    from django.core.management import call_command
    from django.db import transaction

    call_command("migrate", verbosity=0)
    from tandem.contract.services import contract_get
    from tandem.crm.models import Account, Person, StageChange
    from tandem.handoff.models import Handoff, RoutingBalance, RoutingLedgerEntry
    from tandem.users.models import Role, Team, User

    with transaction.atomic():
        RoutingLedgerEntry.objects.all().delete()
        RoutingBalance.objects.all().delete()
        Handoff.objects.all().delete()
        StageChange.objects.filter(person__email__endswith="@burst.test").delete()
        Person.objects.filter(email__endswith="@burst.test").delete()
        Account.objects.filter(domain__endswith=".burst.test").delete()
        teams = {name: Team.objects.get_or_create(name=name, defaults={"side": "sales"})[0] for _, name, _ in REPS}
        users = {}
        for email, team, _ in REPS:
            user, _ = User.objects.get_or_create(
                email=email, defaults={"full_name": email.split("@")[0].title(), "role": Role.SDR}
            )
            user.team, user.role, user.is_active = teams[team], Role.SDR, True
            user.save()
            users[email] = user
        version = contract_get().active_version
        version.document = {**version.document, "routing": routing_section()}
        version.save(update_fields=["document"])
        accounts = Account.objects.bulk_create(
            [
                Account(
                    name=f"Burst {index}",
                    domain=f"a{index}.burst.test",
                    region=REGIONS[index % len(REGIONS)],
                    employee_count=50 + (index * 37) % 5000,
                    # One account in fifty is owned by a rep: its people go to that owner first.
                    owner=users[REPS[index % len(REPS)][0]] if index % 50 == 0 else None,
                    created_at=AT,
                    updated_at=AT,
                )
                for index in range(ACCOUNTS)
            ],
            batch_size=1000,
        )
        people = Person.objects.bulk_create(
            [
                Person(
                    email=f"p{index}@burst.test",
                    account=accounts[index % ACCOUNTS],
                    lifecycle_stage_id="mql",
                    lead_status_id="new",
                    source="webinar" if index % 3 else "ads",
                    stage_entered_at=AT,
                    last_activity_at=AT,
                    created_at=AT,
                    updated_at=AT,
                )
                for index in range(mqls)
            ],
            batch_size=2000,
        )
        StageChange.objects.bulk_create(
            [
                StageChange(
                    person=person,
                    from_stage_id="lead",
                    to_stage_id="mql",
                    at=AT,
                    actor_type="rule",
                    actor_label="MQL rule",
                    contract_version=version.number,
                    evidence={"rule": "mql"},
                )
                for person in people
            ],
            batch_size=2000,
        )
    return [person.pk for person in people]


def fairness_gap() -> tuple[float, dict]:
    """The largest |assigned - expected| of any rep in any round-robin pool, summed from the ledger lines."""
    from django.db.models import Sum

    from tandem.handoff.models import RoutingBalance, RoutingLedgerEntry
    from tandem.handoff.routing import OWNER_POOL

    worst, per_pool = 0.0, {}
    sums = (
        RoutingLedgerEntry.objects.exclude(pool=OWNER_POOL)
        .values("pool", "user__email")
        .annotate(assigned=Sum("assigned"), expected=Sum("expected"))
        .order_by("pool", "user__email")
    )
    for row in sums:
        gap = abs(row["assigned"] - row["expected"])
        worst = max(worst, gap)
        per_pool.setdefault(row["pool"], {})[row["user__email"]] = [row["assigned"], round(row["expected"], 3)]
    for balance in RoutingBalance.objects.exclude(pool=OWNER_POOL).select_related("user"):
        ledger = per_pool[balance.pool][balance.user.email]
        if ledger[0] != balance.assigned or abs(ledger[1] - balance.expected) > 1e-3:
            raise BenchmarkError(f"balance of {balance.user.email} in {balance.pool} differs from its ledger lines")
    return worst, per_pool


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mqls", type=int, default=MQLS)
    parser.add_argument("--database-url", default=os.environ.get("TANDEM_BENCH_HANDOFF_URL", DEFAULT_DATABASE_URL))
    args = parser.parse_args(argv)
    discard_result(BENCHMARK)
    ensure_database(args.database_url)
    setup_django(args.database_url)
    os.environ.setdefault("TANDEM_QUIET", "1")
    import time_machine

    from tandem.handoff.models import Handoff
    from tandem.handoff.services import handoffs_route

    ids = prepare(args.mqls)
    with time_machine.travel(AT, tick=True):
        started, cpu_started = time.perf_counter(), time.process_time()
        handoffs = handoffs_route(person_ids=ids)
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    if len(handoffs) != args.mqls or Handoff.objects.filter(assignee__isnull=True).exists():
        raise BenchmarkError(f"{len(handoffs)} hand-offs made for {args.mqls} MQLs, or some were queued")
    worst, per_pool = fairness_gap()
    owner_routed = Handoff.objects.filter(routing_rule="Existing owner").count()
    print(f"{args.mqls:,} MQLs routed: {owner_routed:,} to their account's owner, the rest by weight")
    for pool, reps in per_pool.items():
        print(f"  {pool}: " + ", ".join(f"{email.split('@')[0]} {a}/{e}" for email, (a, e) in reps.items()))
    print(f"fairness: largest |assigned - expected| = {worst:.3f} leads (target <= 1)")
    print(f"routing: {seconds:.2f} s wall, {cpu_seconds:.2f} s of it in Python; load average {os.getloadavg()[0]:.1f}")
    if worst > 1:
        raise BenchmarkError(f"the fairness ledger strays {worst:.3f} leads from the weights; the target is 1")
    write_result(
        benchmark=BENCHMARK,
        metric="seconds to route a burst of MQLs",
        value=seconds,
        unit="s",
        target=TARGET_SECONDS,
        params={
            "mqls": args.mqls,
            "reps": len(REPS),
            "rules": 3,
            "owner_routed": owner_routed,
            "largest_fairness_gap_leads": round(worst, 3),
            # The rest of the seconds is the database's work, on a machine shared by others: its load is here.
            "python_cpu_seconds": round(cpu_seconds, 2),
            "load_average_1min": round(os.getloadavg()[0], 2),
            "cpu_count": os.cpu_count(),
        },
        database=database_label(),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
