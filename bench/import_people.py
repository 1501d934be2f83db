"""import_people: a HubSpot contacts export through `tandem import people`, then the same file again.

    python bench/import_people.py                     # 100,000 rows into a fresh SQLite file under /tmp
    python bench/import_people.py --full              # 1,048,576 rows (or TANDEM_BENCH_FULL=1)
    python bench/import_people.py --database-url postgres://root@127.0.0.1:5432/postgres

The file is generated from a seed (20 columns, 1% invalid rows, 2% repeated emails) and cached
in /tmp. On PostgreSQL the import goes to a database of its own on the same server,
tandem_bench_import, dropped and created each run. Each import runs the real command in a child
process against an empty database, timed end to end, so the figures are what a user waits for:
start-up, reading, validating, writing. The first import counts `rows` over its wall time; the
second, of the same file, should find every row unchanged.
Three results: import_people_rows_per_s, reimport_people_rows_per_s, import_people_peak_mib.
"""

import argparse
import csv
import datetime as dt
import hashlib
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from _common import ROOT, BenchmarkError, discard_result, write_result

SMALL_ROWS = 100_000
FULL_ROWS = 1_048_576
SEED = 42
INVALID_EVERY = 100  # one row in a hundred cannot be imported
DUPLICATE_EVERY = 50  # one row in fifty repeats an earlier email
IMPORT_DATABASE = "tandem_bench_import"
TANDEM = ROOT / ".venv" / "bin" / "tandem"

FIRST_IMPORT = "import_people_rows_per_s"
REIMPORT = "reimport_people_rows_per_s"
PEAK_MEMORY = "import_people_peak_mib"
BENCHMARKS = (FIRST_IMPORT, REIMPORT, PEAK_MEMORY)
TARGET_ROWS_PER_S = {"postgresql": 50_000, "sqlite": 20_000}
TARGET_REIMPORT_ROWS_PER_S = 100_000
TARGET_PEAK_MIB = 1024

HEADER = [
    "First Name",
    "Last Name",
    "Email",
    "Phone Number",
    "Job Title",
    "Company Name",
    "Company Domain Name",
    "Lifecycle Stage",
    "Lead Status",
    "Create Date",
    "Original Source",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "Buying Role",
    "Fit Score",
    "Engagement Score",
    "Country",
    "custom.segment",
    "custom.product_interest",
]
FIRST_NAMES = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Daniel",
    "Lisa",
    "Matthew",
    "Nancy",
    "Anthony",
    "Sandra",
    "Mark",
    "Ashley",
    "Priya",
    "Wei",
    "Hiroshi",
    "Sofia",
    "Lukas",
    "Emma",
    "Mateo",
    "Aisha",
    "Olga",
    "Lars",
    "Chloé",
    "Jürgen",
    "Zoë",
    "Amir",
    "Fatima",
    "Noah",
    "Mia",
    "Liam",
    "Ines",
]
LAST_NAMES = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Müller",
    "Schmidt",
    "Nguyen",
    "Kim",
    "Patel",
    "Singh",
    "Rossi",
    "Dubois",
    "Novak",
    "Kowalski",
    "Ivanova",
    "Tanaka",
    "Sato",
    "O'Brien",
    "Larsen",
]
TITLES = [
    "VP Marketing",
    "Head of Growth",
    "Marketing Manager",
    "Demand Generation Manager",
    "Sales Director",
    "Account Executive",
    "SDR",
    "RevOps Analyst",
    "CTO",
    "Software Engineer",
    "Product Manager",
    "CFO",
    "Operations Lead",
    "Founder & CEO",
    "",
]
COMPANY_WORDS = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Hooli",
    "Vandelay",
    "Soylent",
    "Cyberdyne",
    "Tyrell",
    "Wonka",
    "Gringotts",
    "Aperture",
    "Massive",
    "Dynamic",
    "Pied",
    "Piper",
    "Nakatomi",
    "Oscorp",
    "Blue",
    "Sun",
    "Monarch",
    "Atlas",
    "Zenith",
    "Nimbus",
    "Vertex",
]
COMPANY_SUFFIXES = ["Inc", "GmbH", "Ltd", "Labs", "Systems", "Group", "Software", "Analytics", "Health", "AG"]
STAGES = [
    ("subscriber", 20),
    ("lead", 40),
    ("marketingqualifiedlead", 15),
    ("salesqualifiedlead", 10),
    ("opportunity", 8),
    ("customer", 7),
]
LEAD_STATUSES = ["NEW", "OPEN", "IN_PROGRESS", "ATTEMPTED_TO_CONTACT", "CONNECTED", "BAD_TIMING", "UNQUALIFIED"]
SOURCES = [
    "ORGANIC_SEARCH",
    "PAID_SEARCH",
    "PAID_SOCIAL",
    "SOCIAL_MEDIA",
    "EMAIL_MARKETING",
    "REFERRALS",
    "DIRECT_TRAFFIC",
    "OFFLINE",
]
UTM = [
    ("google", "cpc", "brand-search-2024"),
    ("linkedin", "paid_social", "abm-q2"),
    ("newsletter", "email", "monthly-digest"),
    ("g2", "referral", "review-push"),
    ("", "", ""),
    ("", "", ""),
]
BUYING_ROLES = ["Decision Maker", "Champion", "Influencer", "Economic Buyer", "End User", "Blocker", ""]
COUNTRIES = [
    "United States",
    "Germany",
    "United Kingdom",
    "France",
    "Canada",
    "Netherlands",
    "India",
    "Australia",
    "Japan",
]
SEGMENTS = ["SMB", "Mid-Market", "Enterprise", "Strategic"]
PRODUCTS = ["Analytics", "Automation", "Data Platform", "Support Suite", ""]
PERSONAL_DOMAINS = ["gmail.com", "outlook.com", "yahoo.com"]


def csv_path(rows: int, seed: int) -> Path:
    return Path(tempfile.gettempdir()) / f"tandem-bench-hubspot-people-v2-{rows}-seed{seed}.csv"


def generate_csv(rows: int, seed: int) -> Path:
    """The HubSpot-style contacts file with `rows` rows for this seed, written once and then reused."""
    path = csv_path(rows, seed)
    if path.exists():
        return path
    rng = random.Random(seed)
    companies = []
    for number in range(max(10, rows // 20)):
        name = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_SUFFIXES)} {number}"
        domain = re.sub(r"[^a-z0-9]+", "", name.lower()) + rng.choice([".com", ".io", ".de", ".co.uk"])
        companies.append((name, domain))
    stage_names = [name for name, _ in STAGES]
    stage_weights = [weight for _, weight in STAGES]
    stage_draws = iter(rng.choices(stage_names, stage_weights, k=rows))
    # Cheap draws keep a million rows to seconds: uniform picks by index, dates from a day table.
    uniform = rng.random

    def pick(values):
        return values[int(uniform() * len(values))]

    def phone() -> str:
        return f"+1 {200 + int(uniform() * 800)} {200 + int(uniform() * 800)} {1000 + int(uniform() * 9000)}"

    days = [(dt.date(2023, 1, 1) + dt.timedelta(days=day)).isoformat() for day in range(600)]
    locals_by_name = {
        (first, last): re.sub(r"[^a-z.]+", "", f"{first}.{last}".lower())
        for first in FIRST_NAMES
        for last in LAST_NAMES
    }
    recent: list[list[str]] = []  # valid rows an upcoming duplicate may repeat
    partial = path.with_suffix(".partial")
    with partial.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for index in range(rows):
            if index % DUPLICATE_EVERY == DUPLICATE_EVERY // 2 and recent:
                row = list(recent.pop(int(uniform() * len(recent))))
                row[3] = phone()  # a later export: new phone, title, lead status and score
                row[4] = pick(TITLES)
                row[8] = pick(LEAD_STATUSES)
                row[16] = str(int(uniform() * 101))
                writer.writerow(row)
                continue
            first, last = pick(FIRST_NAMES), pick(LAST_NAMES)
            company, domain = pick(companies)
            mail_domain = domain if uniform() < 0.9 else pick(PERSONAL_DOMAINS)
            minute = int(uniform() * 1440)
            utm_source, utm_medium, utm_campaign = pick(UTM)
            row = [
                first,
                last,
                f"{locals_by_name[first, last]}.{index}@{mail_domain}",
                phone(),
                pick(TITLES),
                company,
                domain if uniform() < 0.85 else "",
                next(stage_draws),
                pick(LEAD_STATUSES),
                f"{pick(days)} {minute // 60:02d}:{minute % 60:02d}",
                pick(SOURCES),
                utm_source,
                utm_medium,
                utm_campaign,
                pick(BUYING_ROLES),
                str(int(uniform() * 101)),
                str(int(uniform() * 101)),
                pick(COUNTRIES),
                pick(SEGMENTS),
                pick(PRODUCTS),
            ]
            if index % INVALID_EVERY == INVALID_EVERY // 3:
                spoil(row, index // INVALID_EVERY)
            else:
                recent.append(row)
                if len(recent) > 10_000:
                    del recent[:5_000]
            writer.writerow(row)
    partial.replace(path)
    return path


def spoil(row: list[str], number: int) -> None:
    """Make a row invalid in one of four ways, taken in turn: email, date, stage, or several at once."""
    kind = number % 4
    if kind in (0, 3):
        row[2] = row[2].replace("@", " at ")
    if kind in (1, 3):
        row[9] = "2024-13-45 25:99"
    if kind == 2:
        row[7] = "hot prospect"


def prepare_database(database_url: str) -> None:
    """An empty database with Tandem's schema at `database_url` (an SQLite file or a PostgreSQL database)."""
    if database_url.startswith("sqlite:///"):
        path = Path(database_url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    elif database_url.startswith(("postgres://", "postgresql://")):
        parts = urlsplit(database_url)
        name = parts.path.lstrip("/")
        if not name:
            raise BenchmarkError(f"{database_url} names no database")
        options = ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432), "-U", parts.username or "root"]
        environment = {**os.environ, "PGPASSWORD": parts.password or ""}
        for command in (["dropdb", "--if-exists", *options, name], ["createdb", *options, name]):
            done = subprocess.run(command, env=environment, capture_output=True, text=True)
            if done.returncode:
                raise BenchmarkError(f"{' '.join(command)} failed: {done.stderr.strip()}")
    else:
        raise BenchmarkError(f"unsupported database URL {database_url}")
    done = subprocess.run(
        [str(TANDEM), "migrate", "--verbosity", "0"],
        env=child_environment(database_url),
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise BenchmarkError(f"tandem migrate failed: {done.stderr.strip()[-2000:]}")


def child_environment(database_url: str) -> dict:
    return {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "tandem.settings"}


def database_label(database_url: str) -> str:
    if database_url.startswith("sqlite:///"):
        return f"sqlite {sqlite3.sqlite_version}"
    parts = urlsplit(database_url)
    done = subprocess.run(
        [
            "psql",
            "-h",
            parts.hostname or "127.0.0.1",
            "-p",
            str(parts.port or 5432),
            "-U",
            parts.username or "root",
            "-d",
            parts.path.lstrip("/"),
            "-tAc",
            "show server_version",
        ],
        capture_output=True,
        text=True,
    )
    return f"postgresql {done.stdout.split()[0]}" if done.returncode == 0 and done.stdout.strip() else "postgresql"


def run_import(path: Path, database_url: str) -> dict:
    """Run `tandem import people` once; the summary plus wall seconds and the child's peak memory in MiB."""
    command = [str(TANDEM), "import", "people", str(path), "--mapping", "hubspot", "--format", "json"]
    with tempfile.NamedTemporaryFile("r", suffix=".time") as measured:
        timer = shutil.which("time")  # GNU time reports the child's own peak memory
        if timer:
            command = [timer, "-v", "-o", measured.name, *command]
        started = time.perf_counter()
        done = subprocess.run(command, env=child_environment(database_url), capture_output=True, text=True)
        seconds = time.perf_counter() - started
        report = Path(measured.name).read_text()
        found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", report)
        # The import process's own CPU: on PostgreSQL the rest of the wall time is mostly the server's.
        cpu = [float(seconds) for seconds in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", report)]
    if done.returncode not in (0, 1):
        raise BenchmarkError(f"the import exited {done.returncode}: {(done.stderr or done.stdout).strip()[-2000:]}")
    try:
        summary = json.loads(done.stdout[done.stdout.index("{") :])
    except ValueError:
        raise BenchmarkError(f"the import printed no JSON summary: {done.stdout[-500:]!r}") from None
    if found:
        peak_kib = int(found.group(1))
    else:  # no GNU time: the largest child so far, which is this one or a bigger earlier one
        import resource

        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {**summary, "seconds": seconds, "peak_mib": peak_kib / 1024, "cpu_seconds": sum(cpu) if cpu else None}


def describe_work(summary: dict) -> str:
    """Where an import's time went: the import process's CPU, and the bulk load's finishing if it had one."""
    parts = [f"{summary.get('load_path') or 'ordinary'} path"]
    if summary.get("cpu_seconds") is not None:
        parts.append(f"import process CPU {summary['cpu_seconds']:.1f} s")
    if summary.get("finishing_seconds"):
        parts.append(f"finishing {sum(summary['finishing_seconds'].values()):.1f} s")
    return ", ".join(parts)


def check_summary(summary: dict, *, rows: int, what: str) -> None:
    counted = sum(summary[name] for name in ("created", "updated", "unchanged", "rejected", "duplicates"))
    if summary["rows"] != rows:
        raise BenchmarkError(f"{what}: the summary counts {summary['rows']:,} rows, the file has {rows:,}")
    if counted != rows:
        raise BenchmarkError(
            f"{what}: created + updated + unchanged + rejected + duplicates = {counted:,}, not {rows:,}"
        )
    expected = rows // INVALID_EVERY
    if abs(summary["rejected"] - expected) > max(2, expected // 10):
        raise BenchmarkError(f"{what}: {summary['rejected']:,} rows rejected, expected about {expected:,} (1%)")


# The tables a first import of people fills, in the order the bulk load fills them (tandem.imports.bulkload).
IMPORTED_TABLES = ("crm_person", "scoring_personscore", "crm_stagechange", "crm_accountmatch")
# The bulk load's index memory on PostgreSQL (settings.IMPORT_BULK_INDEX_MEMORY) and SQLite page cache (loading()).
FLOOR_INDEX_MEMORY = "512MB"
FLOOR_SQLITE_CACHE_KIB = 128 * 1024


def database_floor(database_url: str) -> dict:
    """The database's own share of a first import: store the rows the import stored, and nothing else.

    Copies of the imported tables are filled from them in one statement each (as the bulk load's
    finishing does), then given every index and foreign key the real tables have, the fastest way
    each database builds them; the transaction is rolled back. No client parses, validates or
    sends anything: it is the database's work for these rows in the quickest way known here, and
    an importer that spent no time reading the file would still need about this long. (The
    figure moves with the machine's speed, as the imports do: compare figures of one run.)
    """
    if database_url.startswith("sqlite:///"):
        return _sqlite_floor(database_url.removeprefix("sqlite:///"))
    return _postgresql_floor(database_url)


def _postgresql_floor(database_url: str) -> dict:
    import psycopg

    with psycopg.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT set_config('maintenance_work_mem', %s, true)", [FLOOR_INDEX_MEMORY])
        rows, building, keys = 0, [], []
        for table in IMPORTED_TABLES:
            copy = f"floor_{table}"
            cursor.execute(f"CREATE TABLE {copy} (LIKE {table} INCLUDING DEFAULTS)")
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = %s", [table])
            for (definition,) in cursor.fetchall():
                building.append(
                    re.sub(
                        r"^CREATE (UNIQUE )?INDEX (\S+) ON public\.(\S+)",
                        rf"CREATE \1INDEX floor_\2 ON {copy}",
                        definition,
                    )
                )
            cursor.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE contype = 'f' AND conrelid = %s::regclass",
                [table],
            )
            keys += [
                f"ALTER TABLE {copy} ADD CONSTRAINT floor_{name} {definition}" for name, definition in cursor.fetchall()
            ]
        started = time.perf_counter()
        for table in IMPORTED_TABLES:
            cursor.execute(f"INSERT INTO floor_{table} SELECT * FROM {table}")  # noqa: S608 (names of this file)
            rows += cursor.rowcount
        loaded = time.perf_counter()
        for statement in building:
            cursor.execute(statement)
        indexed = time.perf_counter()
        for statement in keys:
            cursor.execute(statement)
        done = time.perf_counter()
        connection.rollback()
    return _floor_figures(rows, started, loaded, indexed, done, indexes=len(building), keys=len(keys))


def _sqlite_floor(path: str) -> dict:
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "foreign_keys=ON",
            f"cache_size={-FLOOR_SQLITE_CACHE_KIB}",
        ):
            connection.execute(f"PRAGMA {pragma}")
        connection.execute("BEGIN")
        rows, building = 0, []
        for table in IMPORTED_TABLES:
            (definition,) = connection.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", [table]
            ).fetchone()
            connection.execute(definition.replace(f'"{table}"', f'"floor_{table}"', 1))
            for name, index in connection.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name = ?", [table]
            ).fetchall():
                building.append(
                    index.replace(f'"{name}"', f'"floor_{name}"', 1).replace(f'"{table}"', f'"floor_{table}"', 1)
                )
        started = time.perf_counter()
        for table in IMPORTED_TABLES:
            rows += connection.execute(f'INSERT INTO "floor_{table}" SELECT * FROM "{table}"').rowcount  # noqa: S608
        loaded = time.perf_counter()
        for statement in building:
            connection.execute(statement)
        indexed = time.perf_counter()
        connection.execute("ROLLBACK")
    finally:
        connection.close()
    # SQLite checks each foreign key as a row goes in: the load includes them.
    return _floor_figures(rows, started, loaded, indexed, indexed, indexes=len(building), keys=0)


def _floor_figures(rows, started, loaded, indexed, done, *, indexes: int, keys: int) -> dict:
    return {
        "rows_stored": rows,
        "seconds": round(done - started, 2),
        "load_seconds": round(loaded - started, 2),
        "index_seconds": round(indexed - loaded, 2),
        "key_seconds": round(done - indexed, 2),
        "indexes": indexes,
        "foreign_keys": keys,
    }


def reading_floor(path: Path) -> dict:
    """The client's least work: Python's csv module splitting the file into rows, and hashing each row too."""
    started = time.perf_counter()
    with path.open(encoding="utf-8", newline="") as handle:
        count = sum(1 for _ in csv.reader(handle))
    split = time.perf_counter() - started
    started = time.perf_counter()
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.reader(handle):
            hashlib.blake2b("\x1f".join(row).encode(), digest_size=8).digest()
    hashed = time.perf_counter() - started
    return {"records": count - 1, "split_seconds": round(split, 2), "split_and_hash_seconds": round(hashed, 2)}


def report_floors(path: Path, database_url: str, *, rows: int) -> dict:
    """Measure and print the least time the database, and Python reading the file, take (see `database_floor`)."""
    database = database_floor(database_url)
    reading = reading_floor(path)
    print(
        f"  database floor: {database['seconds']:.1f} s to store the {database['rows_stored']:,} rows of the first "
        f"import with nothing else (load {database['load_seconds']:.1f} s, {database['indexes']} indexes "
        f"{database['index_seconds']:.1f} s, {database['foreign_keys']} foreign keys {database['key_seconds']:.1f} s)"
        f" — with no time for reading the file, a first import would still take about that: "
        f"{rows / database['seconds']:,.0f} rows/s"
    )
    print(
        f"  reading floor: Python's csv module splits the file in {reading['split_seconds']:.1f} s, "
        f"and hashes each row too in {reading['split_and_hash_seconds']:.1f} s "
        f"— at most {rows / reading['split_and_hash_seconds']:,.0f} rows/s for a re-import that reads every row"
    )
    return {"database": database, "reading": reading}


def measure(*, rows: int, seed: int, database_url: str) -> dict:
    """Generate, import into an empty database, import again; write the three results."""
    for name in BENCHMARKS:
        discard_result(name)
    started = time.perf_counter()
    path = generate_csv(rows, seed)
    print(f"File: {path} ({path.stat().st_size / 2**20:.0f} MiB, ready in {time.perf_counter() - started:.1f} s)")
    prepare_database(database_url)
    database = database_label(database_url)
    print(f"Database: {database} at {database_url.split('@')[-1]}")
    load_before = os.getloadavg()
    first = run_import(path, database_url)
    check_summary(first, rows=rows, what="first import")
    print(
        f"  first import: {first['seconds']:.1f} s ({describe_work(first)}), {first['peak_mib']:.0f} MiB, "
        f"{first['created']:,} created, {first['rejected']:,} rejected, {first['duplicates']:,} duplicates"
    )
    again = run_import(path, database_url)
    check_summary(again, rows=rows, what="re-import")
    print(
        f"  re-import: {again['seconds']:.1f} s ({describe_work(again)}), {again['peak_mib']:.0f} MiB, "
        f"{again['unchanged']:,} unchanged, {again['updated']:,} updated, {again['created']:,} created"
    )
    load_after = os.getloadavg()
    print(f"  load average (1, 5, 15 min): {load_before} before, {load_after} after")
    floor = report_floors(path, database_url, rows=rows)

    def counts(summary: dict) -> dict:
        keys = ("status", "created", "updated", "unchanged", "rejected", "duplicates", "accounts_created", "notes")
        keys += ("load_path", "finishing_seconds", "cpu_seconds")
        return {key: summary.get(key) for key in keys} | {"seconds": round(summary["seconds"], 2)}

    params = {
        "rows": rows,
        "seed": seed,
        "columns": len(HEADER),
        "file_mib": round(path.stat().st_size / 2**20, 1),
        "mapping": "hubspot",
        "command": "tandem import people FILE --mapping hubspot --format json",
        "load_average": {"before": load_before, "after": load_after},
    }
    engine = "postgresql" if database.startswith("postgresql") else "sqlite"
    results = [
        write_result(
            benchmark=FIRST_IMPORT,
            metric="rows_per_s",
            value=rows / first["seconds"],
            unit="rows/s",
            target=TARGET_ROWS_PER_S[engine],
            higher_is_better=True,
            params={**params, "first_import": counts(first), "database_floor": floor["database"]},
            database=database,
        ),
        write_result(
            benchmark=REIMPORT,
            metric="rows_per_s",
            value=rows / again["seconds"],
            unit="rows/s",
            target=TARGET_REIMPORT_ROWS_PER_S,
            higher_is_better=True,
            params={**params, "re_import": counts(again), "reading_floor": floor["reading"]},
            database=database,
        ),
        write_result(
            benchmark=PEAK_MEMORY,
            metric="peak_rss",
            value=max(first["peak_mib"], again["peak_mib"]),
            unit="MiB",
            target=TARGET_PEAK_MIB,
            higher_is_better=False,
            params={
                **params,
                "first_import_mib": round(first["peak_mib"], 1),
                "re_import_mib": round(again["peak_mib"], 1),
            },
            database=database,
        ),
    ]
    return {
        "benchmark": "import_people",
        "meets_target": all(result["meets_target"] for result in results),
        "results": results,
    }


def import_database_url(database_url: str | None) -> str:
    """A database of its own: a sibling of a PostgreSQL database, else an SQLite file under /tmp."""
    if database_url and database_url.startswith(("postgres://", "postgresql://")):
        parts = urlsplit(database_url)
        return urlunsplit(parts._replace(path=f"/{IMPORT_DATABASE}"))
    return f"sqlite:///{Path(tempfile.gettempdir()) / 'tandem-bench-import.sqlite3'}"


def run(context) -> dict:
    """Entry point for bench/run.py: the full size when it loads the full demo company."""
    full = context.params.get("people", 0) >= 1_000_000 or os.environ.get("TANDEM_BENCH_FULL") == "1"
    return measure(
        rows=FULL_ROWS if full else SMALL_ROWS,
        seed=SEED,
        database_url=import_database_url(os.environ.get("DATABASE_URL")),
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--full",
        action="store_true",
        default=os.environ.get("TANDEM_BENCH_FULL") == "1",
        help=f"Import {FULL_ROWS:,} rows instead of {SMALL_ROWS:,}.",
    )
    parser.add_argument("--rows", type=int, help="Override the number of rows.")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--database-url",
        help=f"postgres://... to measure PostgreSQL in {IMPORT_DATABASE} on that server (dropped and created).",
    )
    parser.add_argument("--generate-only", action="store_true", help="Write the file and print its path.")
    parser.add_argument(
        "--floor-only",
        action="store_true",
        help="Measure only the floors, on the database the last run of the benchmark filled.",
    )
    parser.add_argument("--check", action="store_true", help="Exit non-zero when a target is missed.")
    args = parser.parse_args(argv)
    rows = args.rows or (FULL_ROWS if args.full else SMALL_ROWS)
    if args.generate_only:
        print(generate_csv(rows, args.seed))
        return 0
    database_url = import_database_url(args.database_url)
    if args.floor_only:
        report_floors(generate_csv(rows, args.seed), database_url, rows=rows)
        return 0
    try:
        outcome = measure(rows=rows, seed=args.seed, database_url=database_url)
    except BenchmarkError as error:
        print(f"import_people: FAILED: {error}", file=sys.stderr)
        return 1
    return 1 if args.check and not outcome["meets_target"] else 0


if __name__ == "__main__":
    sys.exit(main())
