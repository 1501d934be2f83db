"""fit_rescore: people per second for fit scores of everyone, end to end in Python from the database.

Reads the facts with `facts_for_people` (people in chunks, accounts once, each aggregate in one grouped
query for everyone) and scores them with the typical fit rule set of rules_evaluate; the scores are not
written (storing them is the scoring engine's part). Target: 66,000 people/s, the rate a rescore of
1,000,000 people in 15 s needs.
"""

import time

from _common import write_result
from rules_evaluate import FIT_RULES

BENCHMARK = "fit_rescore"
TARGET_PEOPLE_PER_SECOND = 66_000


def run(context) -> dict:
    from django.db.models import Max

    from tandem.engagement.models import Touchpoint
    from tandem.lib.rules import facts_for_people, fit_rules_parse, fit_score

    rules = fit_rules_parse(FIT_RULES)
    as_of = Touchpoint.objects.aggregate(latest=Max("occurred_at"))["latest"]
    started, cpu_started = time.perf_counter(), time.process_time()
    people = with_points = 0
    for _, facts in facts_for_people(rules, as_of=as_of):
        people += 1
        with_points += fit_score(rules, facts)[0] > 0
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    return write_result(
        benchmark=BENCHMARK,
        metric="people_per_second",
        value=people / seconds,
        unit="people/s",
        target=TARGET_PEOPLE_PER_SECOND,
        params={
            **context.params,
            "people_scored": people,
            "people_with_points": with_points,
            "seconds": round(seconds, 2),
            # This process's CPU time only (the database server's is apart): on a busy machine the wall-clock
            # figure depends on the other load, this one much less.
            "client_cpu_people_per_second": round(people / cpu_seconds),
            "rules": len(FIT_RULES),
            "aggregates": [aggregate.key for aggregate in rules.aggregates],
        },
        database=context.database,
        higher_is_better=True,
    )
