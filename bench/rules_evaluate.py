"""rules_evaluate: people per second for a typical fit rule set evaluated in Python on plain facts.

The facts (person and account columns the rules read, and each touchpoint aggregate once per person)
are read first with facts_for_people, as a full rescore does, and not timed: what is timed is `fit_score`
over every person, the inner loop of a full rescore. Up to 100,000 people, three rounds, the median round
reported. Target: 66,000 people/s, the rate a rescore of 1,000,000 people in 15 s needs.
"""

import statistics
import time

from _common import write_result

BENCHMARK = "rules_evaluate"
TARGET_PEOPLE_PER_SECOND = 66_000
SAMPLE = 100_000
ROUNDS = 3
FIT_RULES = [
    {
        "name": "ICP industry",
        "when": 'account.industry in ["Software", "Financial services", "Insurance"]',
        "points": 20,
    },
    {"name": "Mid-market", "when": "account.employee_count between 50 and 1000", "points": 15},
    {"name": "Enterprise", "when": "account.employee_count > 1000", "points": 25},
    {"name": "Target country", "when": 'account.country in ["US", "GB", "DE", "FR", "CA", "NL"]', "points": 10},
    {"name": "Target account", "when": "account.is_target_account = true", "points": 10},
    {"name": "Senior title", "when": 'title contains any ["VP", "Head", "Chief", "Director"]', "points": 20},
    {
        "name": "Buyer persona",
        "when": 'custom.persona in ["Marketing leader", "Sales leader", "Marketing ops"]',
        "points": 10,
    },
    {"name": "Free mail", "when": 'email ends with any ["@gmail.com", "@yahoo.com", "@hotmail.com"]', "points": -30},
    {"name": "Recent form", "when": "count(form_submit, last 30 days) >= 1", "points": 10},
    {
        "name": "Pricing interest",
        "when": 'count(page_view where url contains "/pricing", last 14 days) >= 2',
        "points": 10,
    },
]


def load_facts(rules, sample: int):
    """Plain facts for the first `sample` people: their columns, their account's, and the rules' aggregates."""
    from django.db.models import Max

    from tandem.crm.models import Person
    from tandem.engagement.models import Touchpoint
    from tandem.lib.rules import facts_for_people

    as_of = Touchpoint.objects.aggregate(latest=Max("occurred_at"))["latest"]
    ids = Person.objects.order_by("pk").values_list("pk", flat=True)
    if not ids.exists():
        from _common import BenchmarkError

        raise BenchmarkError("no people to score")
    last_id = ids[min(sample, ids.count()) - 1]
    return [facts for _, facts in facts_for_people(rules, as_of=as_of, people=Person.objects.filter(pk__lte=last_id))]


def run(context) -> dict:
    from tandem.lib.rules import fit_rules_parse, fit_score

    rules = fit_rules_parse(FIT_RULES)
    started = time.perf_counter()
    facts = load_facts(rules, min(SAMPLE, context.params["people"]))
    load_seconds = time.perf_counter() - started
    rates, cpu_rates, scored = [], [], 0
    for _ in range(ROUNDS):
        started, cpu_started = time.perf_counter(), time.process_time()
        scored = sum(fit_score(rules, one)[0] > 0 for one in facts)
        rates.append(len(facts) / (time.perf_counter() - started))
        cpu_rates.append(len(facts) / (time.process_time() - cpu_started))
    return write_result(
        benchmark=BENCHMARK,
        metric="people_per_second",
        value=statistics.median(rates),
        unit="people/s",
        target=TARGET_PEOPLE_PER_SECOND,
        params={
            **context.params,
            "people_scored": len(facts),
            "rules": len(FIT_RULES),
            "aggregates": [aggregate.key for aggregate in rules.aggregates],
            "people_with_points": scored,
            "rounds": ROUNDS,
            "facts_load_seconds": round(load_seconds, 2),
            "rates": [round(rate) for rate in rates],
            # CPU time of this process: on a busy machine the wall-clock rate depends on the other load.
            "cpu_rates": [round(rate) for rate in cpu_rates],
        },
        database=context.database,
        higher_is_better=True,
    )
