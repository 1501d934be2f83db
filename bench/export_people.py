"""export_people: every person to a CSV file, as `tandem export people --out FILE` writes it; rows per second.

Each run is a whole export — the custom-field keys, the rows, the file and the audit entry —
timed from start to finish; the figure is the median of RUNS runs.
"""

import statistics
import tempfile
import time
from pathlib import Path

from _common import BenchmarkError, write_result

BENCHMARK = "export_people"
TARGET_ROWS_PER_SECOND = 100_000
RUNS = 3


def run(context) -> dict:
    from tandem.audit.actors import Actor
    from tandem.crm.models import Person
    from tandem.crm.selectors import PersonFilters
    from tandem.exports.services import export_write

    people = Person.objects.count()
    rates, seconds = [], []
    with tempfile.TemporaryDirectory(prefix="tandem-bench-") as directory:
        target = Path(directory) / "people.csv"
        for _ in range(RUNS):
            started = time.perf_counter()
            result = export_write(
                by=Actor.system("bench export_people"),
                kind="people",
                filters=PersonFilters(),
                file_format="csv",
                target=str(target),
            )
            elapsed = time.perf_counter() - started
            if result.row_count != people:
                raise BenchmarkError(f"the export wrote {result.row_count:,} rows for {people:,} people")
            rates.append(people / elapsed)
            seconds.append(round(elapsed, 2))
        file_bytes = target.stat().st_size
        header = target.open(encoding="utf-8").readline().rstrip("\n").split(",")
    return write_result(
        benchmark=BENCHMARK,
        metric="rows_per_second",
        value=statistics.median(rates),
        unit="rows/s",
        target=TARGET_ROWS_PER_SECOND,
        higher_is_better=True,
        params={
            **context.params,
            "exported_rows": people,
            "columns": len(header),
            "file_bytes": file_bytes,
            "runs": RUNS,
            "seconds_per_run": seconds,
            "path": "tandem.exports.services.export_write (what `tandem export people --out people.csv` runs)",
        },
        database=context.database,
    )
