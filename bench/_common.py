"""What every benchmark shares: Django setup, timing, percentiles and the result file."""

import datetime as dt
import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"


class BenchmarkError(Exception):
    """The benchmark could not measure what it is meant to (missing endpoint, wrong answer)."""


def setup_django(database_url: str) -> None:
    """Point Django at the benchmark database and start it; call before importing tandem models."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "tandem.settings"
    os.environ["DATABASE_URL"] = database_url
    import django

    django.setup()


def database_label() -> str:
    """The database engine and server version, e.g. 'postgresql 16.4' or 'sqlite 3.40.1'."""
    from django.db import connection

    connection.ensure_connection()
    if connection.vendor == "sqlite":
        import sqlite3

        return f"sqlite {sqlite3.sqlite_version}"
    if connection.vendor == "postgresql":
        version = connection.pg_version  # e.g. 160004 for 16.4
        return f"postgresql {version // 10000}.{version % 10000}"
    return connection.vendor


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile: the smallest value at least `share` of the values are <= to."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(share / 100 * len(ordered)))
    return ordered[rank - 1]


def time_calls(call: Callable[[int], None], *, count: int, warmup: int) -> list[float]:
    """Call `call(i)` for i in 0..warmup-1 untimed, then for the next `count` i; return each timed call in ms."""
    for index in range(warmup):
        call(index)
    timings = []
    for index in range(warmup, warmup + count):
        started = time.perf_counter()
        call(index)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def measure_get(client, url_for: Callable[[int], str], *, count: int, warmup: int) -> list[float]:
    """Time `count` GETs (after `warmup` untimed ones); any answer but 200 stops the benchmark."""

    def get(index: int) -> None:
        url = url_for(index)
        try:
            response = client.get(url)
        except Exception as error:  # the view crashed: report it instead of a figure
            raise BenchmarkError(f"GET {url} raised {error.__class__.__name__}: {error}") from error
        if response.status_code != 200:
            hint = " (the endpoint or page does not exist yet?)" if response.status_code == 404 else ""
            raise BenchmarkError(f"GET {url} answered {response.status_code}{hint}; no figure recorded")

    return time_calls(get, count=count, warmup=warmup)


def discard_result(benchmark: str) -> None:
    """Remove an old result so that a failed run leaves no stale figure behind."""
    (RESULTS_DIR / f"{benchmark}.json").unlink(missing_ok=True)


def write_result(
    *,
    benchmark: str,
    metric: str,
    value: float,
    unit: str,
    target: float,
    params: dict,
    database: str,
    higher_is_better: bool = False,
) -> dict:
    """Write bench/results/<benchmark>.json and print the figure with its target beside it.

    The target is a ceiling (milliseconds, seconds), or a floor with `higher_is_better` (rows per second).
    """
    result = {
        "benchmark": benchmark,
        "metric": metric,
        "value": round(value, 2),
        "unit": unit,
        "target": target,
        "meets_target": value >= target if higher_is_better else value <= target,
        "params": params,
        "database": database,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"{benchmark}.json").write_text(json.dumps(result, indent=2) + "\n")
    verdict = "meets target" if result["meets_target"] else "MISSES target"
    sign = ">=" if higher_is_better else "<="
    print(f"{benchmark}: {metric} = {result['value']} {unit} (target {sign} {target}) — {verdict}")
    return result
