"""The ledger selector: a fixed number of queries, values then and now."""

import datetime as dt

from tandem.crm.tests.factories import make_person
from tandem.scoring import services
from tandem.scoring.selectors import person_score_ledger
from tandem.scoring.tests.factories import AS_OF, make_touchpoint, rules_of


def test_ledger_reads_in_two_queries_whatever_the_number_of_lines(db, django_assert_num_queries):
    person = make_person(email="pat@acme.com")
    for days in range(40):
        make_touchpoint(person, "page_view", days, url=f"https://acme.com/pricing/{days}")
    rules = rules_of(
        {"name": "Pricing page", "touchpoint": "page_view", "url": "*/pricing*", "points": 5, "cap": 50},
        decay={"window_days": 30},
    )
    services.scores_recompute_all(rules=rules, as_of=AS_OF, contract_version=2)
    with django_assert_num_queries(2):
        ledger = person_score_ledger(person_id=person.pk, now=AS_OF + dt.timedelta(days=10))
    assert len(ledger.lines) == 31  # 0..30 days old
    assert [line.points for line in ledger.lines[:11]] == [5] * 10 + [0]
    assert ledger.lines[0].given_at == AS_OF
    assert ledger.lines[0].touchpoint_url == "https://acme.com/pricing/0"
    assert ledger.lines[10].capped_by == "Rule cap"
    assert (ledger.stored_score, ledger.score_at_scoring) == (50, 50)
    # Ten days on, the lines from 20 to 30 days old have left the window: 10 capped lines remain worth 50.
    assert (ledger.total_now, ledger.score_now) == (50.0, 50)
    assert ledger.lines[0].decay == "counts for 30 days"
    later = person_score_ledger(person_id=person.pk, now=AS_OF + dt.timedelta(days=25.5))
    assert (later.total_now, later.score_now) == (25.0, 25)
