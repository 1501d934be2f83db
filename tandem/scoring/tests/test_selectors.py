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
        then = person_score_ledger(person_id=person.pk, now=AS_OF, rules=rules, contract_version=2)
    assert len(then.lines) == 31  # 0..30 days old
    assert [line.points for line in then.lines[:11]] == [5] * 10 + [0]
    assert then.lines[0].given_at == AS_OF
    assert then.lines[0].touchpoint_url == "https://acme.com/pricing/0"
    assert then.lines[0].touchpoint_type == "Page view"
    assert then.lines[10].capped_by == "Rule cap"
    assert (then.stored_score, then.score_now, then.contract_version) == (50, 50, 2)
    assert then.lines[0].decay == "counts for 30 days"
    # Ten days on, the visits 21 to 30 days old have left the window: 21 lines, the newest 10 worth 50.
    ledger = person_score_ledger(person_id=person.pk, now=AS_OF + dt.timedelta(days=10), rules=rules)
    assert len(ledger.lines) == 21
    assert (ledger.total_now, ledger.score_now) == (50.0, 50)
    later = person_score_ledger(person_id=person.pk, now=AS_OF + dt.timedelta(days=25.5), rules=rules)
    assert (len(later.lines), later.total_now, later.score_now) == (5, 25.0, 25)
    assert later.stored_score == 50 and not later.explains_stored_score
