"""people_list_api: one page of an SDR's MQLs from the HTTP API, newest activity first."""

from _common import measure_get, percentile, write_result

BENCHMARK = "people_list_api"
TARGET_P95_MS = 50


def run(context) -> dict:
    url = f"/api/v1/people?stage=mql&owner={context.owner.pk}&sort=last_activity&limit=25"
    timings = measure_get(context.client, lambda index: url, count=context.requests, warmup=context.warmup)
    return write_result(
        benchmark=BENCHMARK,
        metric="p95",
        value=percentile(timings, 95),
        unit="ms",
        target=TARGET_P95_MS,
        params={**context.params, "url": url, "median_ms": round(percentile(timings, 50), 2)},
        database=context.database,
    )
