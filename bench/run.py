"""Run Tandem's benchmarks and write bench/results/<benchmark>.json for each.

    python bench/run.py                  # 20,000 people / 2,000 accounts: minutes
    python bench/run.py --full           # 1,000,000 people / 100,000 accounts (or TANDEM_BENCH_FULL=1)
    python bench/run.py --only record_page --requests 500

The data set is the demo company (tandem.demo.services.demo_generate), loaded once into the
database from --database-url, else DATABASE_URL, else an SQLite file under var/bench/ named for
its size, and reused by later runs of the same size. Requests go through Django's test client
in-process, signed in as the SDR who owns the most MQLs. A benchmark that cannot measure (an
endpoint answering 404, a crash) says why and makes the run exit non-zero; it records no figure.
"""

import argparse
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import ROOT, BenchmarkError, database_label, discard_result, setup_django

BENCHMARKS = [
    "people_list_api",
    "record_page",
    "people_list_page",
    "people_list_paths",
    "import_people",
    "export_people",
    "rules_evaluate",
    "fit_rescore",
]
SMALL = {"people": 20_000, "accounts": 2_000, "touchpoints_per_person": 10.0}
# At a million people the touchpoint table alone would be 10 million rows at the demo's usual
# ten per person; three keeps the load to minutes while every person still has a history.
FULL = {"people": 1_000_000, "accounts": 100_000, "touchpoints_per_person": 3.0}
SEED = 42


@dataclass
class Context:
    """What the benchmarks share: the signed-in client, the owner to filter on, the sizes."""

    client: object
    owner: object
    database: str
    requests: int
    warmup: int
    params: dict = field(default_factory=dict)

    def random_person_ids(self, count: int) -> list[int]:
        """`count` ids of existing people, the same ones on every run of the same data."""
        from django.db.models import Max, Min

        from tandem.crm.models import Person

        bounds = Person.objects.aggregate(low=Min("id"), high=Max("id"))
        rng = random.Random(SEED)
        ids: list[int] = []
        while len(ids) < count:
            candidates = {rng.randint(bounds["low"], bounds["high"]) for _ in range(count * 2)}
            ids += sorted(Person.objects.filter(pk__in=candidates).values_list("pk", flat=True))
        rng.shuffle(ids)
        return ids[:count]


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--full",
        action="store_true",
        default=os.environ.get("TANDEM_BENCH_FULL") == "1",
        help="Use the sizes the issues name: 1,000,000 people and 100,000 accounts.",
    )
    parser.add_argument("--people", type=int, help="Override the number of people.")
    parser.add_argument("--accounts", type=int, help="Override the number of accounts.")
    parser.add_argument("--touchpoints-per-person", type=float, help="Override the touchpoints per person.")
    parser.add_argument("--database-url", help="Database to load and measure (default: see above).")
    parser.add_argument("--fresh", action="store_true", help="Delete the SQLite file first and load again.")
    parser.add_argument("--requests", type=int, default=200, help="Timed requests per benchmark (default 200).")
    parser.add_argument("--warmup", type=int, default=20, help="Untimed requests first (default 20).")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, help="Run only these benchmarks.")
    parser.add_argument("--check", action="store_true", help="Exit non-zero when a target is missed.")
    return parser.parse_args(argv)


def database_url_for(args, sizes) -> str:
    if args.database_url:
        return args.database_url
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    data_dir = Path(os.environ.get("TANDEM_DATA_DIR", ROOT / "var")).resolve() / "bench"
    data_dir.mkdir(parents=True, exist_ok=True)
    name = f"tandem-bench-{sizes['people']}p-{sizes['accounts']}a.sqlite3"
    return f"sqlite:///{data_dir / name}"


def delete_sqlite_file(database_url: str) -> None:
    if not database_url.startswith("sqlite:///"):
        raise BenchmarkError("--fresh only deletes SQLite files; drop and recreate a PostgreSQL database yourself.")
    path = Path(database_url.removeprefix("sqlite:///"))
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def ensure_dataset(sizes: dict) -> dict:
    """Load the demo company at this size into an empty database, or reuse one loaded before."""
    from django.core.management import call_command

    from tandem.audit.models import AuditEntry
    from tandem.crm.models import Person
    from tandem.demo.services import demo_generate

    call_command("migrate", verbosity=0)
    existing = Person.objects.count()
    if existing:
        load = AuditEntry.objects.filter(action="demo_load").order_by("-at").first()
        if load is None or (load.after or {}).get("people") != sizes["people"] or existing != sizes["people"]:
            raise BenchmarkError(
                f"The database already holds {existing:,} people, not a {sizes['people']:,}-people demo load. "
                "Use --fresh (SQLite), another --database-url, or an empty database."
            )
        print(f"Reusing the demo data loaded {load.at:%Y-%m-%d %H:%M} ({existing:,} people).")
        return {"load_seconds": None}

    def progress(step: str, done: int, total: int) -> None:
        print(f"\r  loading {step}: {done:,}/{total:,}", end="\n" if done >= total else "", flush=True)

    print(f"Loading the demo company: {sizes['people']:,} people, {sizes['accounts']:,} accounts ...")
    started = time.monotonic()
    summary = demo_generate(
        seed=SEED,
        people=sizes["people"],
        accounts=sizes["accounts"],
        touchpoints_per_person=sizes["touchpoints_per_person"],
        progress=progress,
    )
    seconds = round(time.monotonic() - started, 1)
    print(f"Loaded in {seconds} s: {summary['touchpoints']:,} touchpoints, {summary['stage_changes']:,} stage changes.")
    return {"load_seconds": seconds}


def busiest_mql_owner():
    from django.db.models import Count

    from tandem.crm.models import Person
    from tandem.users.models import User

    row = (
        Person.objects.filter(lifecycle_stage_id="mql", owner__isnull=False)
        .values("owner")
        .annotate(people=Count("id"))
        .order_by("-people", "owner")
        .first()
    )
    if row is None:
        raise BenchmarkError("No MQL has an owner, so there is no owner to filter on.")
    return User.objects.get(pk=row["owner"]), row["people"]


def main(argv=None) -> int:
    args = parse_args(argv)
    sizes = dict(FULL if args.full else SMALL)
    for name in ("people", "accounts", "touchpoints_per_person"):
        if getattr(args, name) is not None:
            sizes[name] = getattr(args, name)
    database_url = database_url_for(args, sizes)
    try:
        if args.fresh:
            delete_sqlite_file(database_url)
        setup_django(database_url)
        print(f"Database: {database_label()} at {database_url.split('@')[-1]}")
        ensure_dataset(sizes)
        from django.test import Client

        owner, owner_mqls = busiest_mql_owner()
        client = Client()
        client.force_login(owner)
    except BenchmarkError as error:
        print(f"Cannot benchmark: {error}", file=sys.stderr)
        return 1
    context = Context(
        client=client,
        owner=owner,
        database=database_label(),
        requests=args.requests,
        warmup=args.warmup,
        params={
            **sizes,
            "seed": SEED,
            "requests": args.requests,
            "warmup": args.warmup,
            "signed_in_as": owner.email,
            "owner_mql_people": owner_mqls,
            "client": "django.test.Client, in-process",
        },
    )
    failed, missed = [], []
    for name in args.only or BENCHMARKS:
        module = __import__(name)
        try:
            result = module.run(context)
        except BenchmarkError as error:
            discard_result(name)
            print(f"{name}: FAILED: {error}", file=sys.stderr)
            failed.append(name)
            continue
        if not result["meets_target"]:
            missed.append(name)
    if failed:
        print(f"{len(failed)} benchmark(s) could not measure: {', '.join(failed)}", file=sys.stderr)
        return 1
    if missed and args.check:
        print(f"Targets missed: {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
