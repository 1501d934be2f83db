"""rules_evaluate: people per second for a typical fit rule set evaluated in Python on plain facts.

The facts (person and account columns the rules read, and each touchpoint aggregate once per person)
are read from the demo company first and not timed: what is timed is `fit_score` over every person,
the inner loop of a full rescore. Up to --people-sample people (default 100,000), three rounds, the
median round reported. Target: 66,000 people/s, the rate a rescore of 1,000,000 people in 15 s needs.
"""

import statistics
import time
from collections import defaultdict

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
    from django.db.models import F, Max

    from tandem.crm.models import Account, Person
    from tandem.engagement.models import Touchpoint
    from tandem.lib.rules import Facts

    as_of = Touchpoint.objects.aggregate(latest=Max("occurred_at"))["latest"]
    people = list(Person.objects.order_by("pk").values("pk", "account_id", *rules.person_columns)[:sample])
    if not people:
        from _common import BenchmarkError

        raise BenchmarkError("no people to score")
    last_id = people[-1]["pk"]
    accounts = {row.pop("pk"): row for row in Account.objects.values("pk", *rules.account_columns)}
    window = max(aggregate.window for aggregate in rules.aggregates)
    records = defaultdict(list)
    rows = Touchpoint.objects.filter(person_id__lte=last_id, occurred_at__gte=as_of - window, occurred_at__lte=as_of)
    for row in rows.values("person_id", "type", "url", "occurred_at", campaign_name=F("campaign__name")).iterator(
        chunk_size=10_000
    ):
        row["campaign"] = row.pop("campaign_name")
        records[row.pop("person_id")].append(row)
    facts = []
    for person in people:
        touchpoints = records.get(person["pk"], ())
        values = {aggregate.key: aggregate.evaluate(touchpoints, as_of) for aggregate in rules.aggregates}
        account = accounts.get(person["account_id"])
        facts.append(Facts(person=person, account=account, aggregates=values, as_of=as_of))
    return facts


def run(context) -> dict:
    from tandem.lib.rules import fit_rules_parse, fit_score

    rules = fit_rules_parse(FIT_RULES)
    started = time.perf_counter()
    facts = load_facts(rules, min(SAMPLE, context.params["people"]))
    load_seconds = time.perf_counter() - started
    rates, scored = [], 0
    for _ in range(ROUNDS):
        started = time.perf_counter()
        scored = sum(fit_score(rules, one)[0] > 0 for one in facts)
        rates.append(len(facts) / (time.perf_counter() - started))
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
        },
        database=context.database,
        higher_is_better=True,
    )
