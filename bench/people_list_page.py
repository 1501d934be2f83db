"""people_list_page: the people list web page filtered to an SDR's MQLs."""

from _common import measure_get, percentile, write_result

BENCHMARK = "people_list_page"
TARGET_P95_MS = 150


def run(context) -> dict:
    url = f"/people/?stage=mql&owner={context.owner.pk}"
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
