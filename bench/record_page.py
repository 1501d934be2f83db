"""record_page: a person's record page (details, timeline, matches, deals) for random people."""

from _common import measure_get, percentile, write_result

BENCHMARK = "record_page"
TARGET_P95_MS = 100


def run(context) -> dict:
    person_ids = context.random_person_ids(context.warmup + context.requests)
    timings = measure_get(
        context.client,
        lambda index: f"/people/{person_ids[index % len(person_ids)]}/",
        count=context.requests,
        warmup=context.warmup,
    )
    return write_result(
        benchmark=BENCHMARK,
        metric="p95",
        value=percentile(timings, 95),
        unit="ms",
        target=TARGET_P95_MS,
        params={**context.params, "url": "/people/<random id>/", "median_ms": round(percentile(timings, 50), 2)},
        database=context.database,
    )
