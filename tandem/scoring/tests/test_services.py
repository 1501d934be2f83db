"""Full rescore and one-person refresh against the database (SQLite and PostgreSQL)."""

import datetime as dt

import pytest
from django.utils import timezone

from tandem.audit.models import AuditEntry
from tandem.campaigns.models import Campaign
from tandem.crm.models import Person
from tandem.crm.tests.factories import make_person
from tandem.scoring import services, tasks
from tandem.scoring.models import CappedBy, PersonScore, ScoringRun
from tandem.scoring.selectors import person_score_ledger
from tandem.scoring.tests.factories import AS_OF, days_ago, make_touchpoint, rules_of, scores_by, set_scores

SECTION = {
    "decay": {"half_life_days": 30},
    "groups": [{"name": "web", "cap": 30}],
    "rules": [
        {
            "name": "Pricing page",
            "touchpoint": "page_view",
            "url": "*/pricing*",
            "points": 10,
            "cap": 30,
            "group": "web",
        },
        {"name": "Any page", "touchpoint": "page_view", "points": 2, "group": "web"},
        {"name": "Demo form", "touchpoint": "form_submit", "points": 25},
        {"name": "Webinar attended", "touchpoint": "webinar", "campaign": "Q3 webinar", "points": 15},
        {"name": "Careers page", "touchpoint": "page_view", "url": "*/careers*", "points": -10},
        {"name": "Unsubscribed", "touchpoint": "email_click", "properties": {"action": "unsubscribe"}, "points": -20},
        {"name": "Odd URLs", "touchpoint": "page_view", "url": "*/100%_off?", "points": 3},
    ],
}


def ledger_rows(person_id, rules, now=AS_OF):
    """(rule, touchpoint, points, capped by, given at, value) of the person's lines, rule by rule, oldest first."""
    ledger = person_score_ledger(person_id=person_id, now=now, rules=rules, contract_version=7)
    order = {rule.name: position for position, rule in enumerate(rules.rules)}
    rows = [
        (line.rule_name, line.touchpoint_id, line.points, line.capped_by, line.given_at, line.value_now)
        for line in ledger.lines
    ]
    return sorted(rows, key=lambda row: (order[row[0]], row[4], row[1]))


@pytest.fixture
def people(db):
    """Three people with touchpoints that exercise every kind of rule."""
    webinar = make_campaign("Q3 Webinar")
    other = make_campaign("Q4 webinar")
    alice = make_person(email="alice@acme.com")
    bob = make_person(email="bob@acme.com")
    carol = make_person(email="carol@beta.io")
    for days, url in [
        (1, "https://acme.com/Pricing"),
        (3, "https://acme.com/pricing?x=1"),
        (10, "https://acme.com/blog"),
        (20, "https://acme.com/pricing"),
        (31, "https://acme.com/PRICING/team"),
        (45, "https://acme.com/careers"),
        (2, "https://acme.com/100%_off!"),
        (2, "https://acme.com/100x_off!"),
        (-3, "https://acme.com/pricing"),
    ]:
        make_touchpoint(alice, "page_view", days, url=url)
    make_touchpoint(alice, "form_submit", 30)
    make_touchpoint(alice, "webinar", 5, campaign=webinar)
    make_touchpoint(alice, "webinar", 6, campaign=other)
    make_touchpoint(bob, "email_click", 1, properties={"action": "unsubscribe"})
    make_touchpoint(bob, "email_click", 2, properties={"action": "Unsubscribe"})
    make_touchpoint(bob, "form_submit", 60)
    make_touchpoint(None, "form_submit", 1, anonymous_id="visitor-1")
    make_touchpoint(carol, "chat", 1)
    set_scores(carol, engagement=44)
    return {"alice": alice, "bob": bob, "carol": carol}


def test_full_rescore_writes_scores_ledger_run_and_audit(people):
    rules = rules_of(*SECTION["rules"], decay=SECTION["decay"], groups=SECTION["groups"])
    run = services.scores_recompute_all(rules=rules, as_of=AS_OF, contract_version=7)
    scores = scores_by("email")
    # alice, decayed with a 30-day half-life: the web group's newest 30 raw points 28.33, odd URL 2.86,
    # careers -3.54, demo 12.5, webinar 13.36 = 53.52. bob: -20 + 6.25 -> 0. carol: no lines, 44 -> 0.
    assert scores == {"alice@acme.com": 54, "bob@acme.com": 0, "carol@beta.io": 0}
    assert (run.contract_version, run.people_scored, run.people_changed, run.ledger_lines) == (7, 2, 2, 18)
    # Rule by rule in contract order, each rule's lines oldest first.
    rule_cap, group_cap = CappedBy.RULE.label, CappedBy.GROUP.label
    assert [(rule, points, capped) for rule, _, points, capped, *_ in ledger_rows(people["alice"].pk, rules)] == [
        ("Pricing page", 0, rule_cap),  # 31 days: the rule's 30 went to newer visits
        ("Pricing page", 0, group_cap),  # 20 days: the group's 30 went to newer lines
        ("Pricing page", 10, ""),  # 3 days
        ("Pricing page", 10, ""),  # 1 day
        ("Any page", 0, group_cap),  # 45 days
        ("Any page", 0, group_cap),  # 31 days
        ("Any page", 0, group_cap),  # 20 days
        ("Any page", 2, ""),  # 10 days: the last 2 points of the group's 30
        ("Any page", 2, ""),  # 3 days
        ("Any page", 2, ""),  # 2 days, /100%_off!
        ("Any page", 2, ""),  # 2 days, /100x_off!
        ("Any page", 2, ""),  # 1 day
        ("Demo form", 25, ""),
        ("Webinar attended", 15, ""),
        ("Careers page", -10, ""),
        ("Odd URLs", 3, ""),
    ]
    entry = AuditEntry.objects.get(action="engagement_rescore")
    assert entry.entity_id == run.pk
    assert entry.after["people_changed"] == 2
    assert ScoringRun.objects.count() == 1


def test_ledger_total_equals_the_stored_score(people):
    rules = rules_of(*SECTION["rules"], decay=SECTION["decay"], groups=SECTION["groups"])
    services.scores_recompute_all(rules=rules, as_of=AS_OF, contract_version=7)
    for person in people.values():
        ledger = person_score_ledger(person_id=person.pk, now=AS_OF, rules=rules, contract_version=7)
        person.refresh_from_db()
        assert ledger.score_now == person.engagement_score
        assert ledger.explains_stored_score
        assert ledger.total_now == pytest.approx(sum(line.value_now for line in ledger.lines))
    then = person_score_ledger(person_id=people["alice"].pk, now=AS_OF, rules=rules)
    # The touchpoint 3 days after AS_OF counts 30 days on; without it the lines are the same, each worth half.
    alice = person_score_ledger(person_id=people["alice"].pk, now=AS_OF + dt.timedelta(days=30), rules=rules)
    assert alice.stored_score == 54
    assert not alice.explains_stored_score
    assert len(alice.lines) == len(then.lines) + 2  # the later pricing visit, for the pricing and any-page rules
    later_visit = [line for line in alice.lines if line.given_at > AS_OF]
    assert [(line.rule_name, line.points) for line in later_visit] == [("Any page", 2), ("Pricing page", 10)]
    thirty_days_on = AS_OF + dt.timedelta(days=30)
    refreshed = services.score_person_refresh(
        person_id=people["alice"].pk, rules=rules, as_of=thirty_days_on, contract_version=7
    )
    assert alice.score_now == refreshed


def test_bulk_and_one_person_refresh_give_identical_scores(people):
    rules = rules_of(*SECTION["rules"], decay=SECTION["decay"], groups=SECTION["groups"])
    services.scores_recompute_all(rules=rules, as_of=AS_OF, contract_version=7)
    bulk_scores = scores_by("id")
    for person in people.values():
        score = services.score_person_refresh(person_id=person.pk, rules=rules, as_of=AS_OF, contract_version=7)
        assert score == bulk_scores[person.pk]
    assert scores_by("id") == bulk_scores
    assert AuditEntry.objects.filter(action="engagement_score_change").count() == 0


def test_window_decay_on_both_paths(people):
    rules = rules_of(*SECTION["rules"], decay={"window_days": 30}, groups=SECTION["groups"])
    services.scores_recompute_all(rules=rules, as_of=AS_OF, contract_version=8)
    alice = people["alice"]
    alice.refresh_from_db()
    # web group 30 (pricing 1d 10, any 1d 2, any 2d 4, pricing 3d 10, any 3d 2, any 10d 2 of 2),
    # odd URL 3, demo 25 at exactly 30 days, webinar 15 = 73; the careers visit is outside the window.
    assert alice.engagement_score == 73
    assert services.score_person_refresh(person_id=alice.pk, rules=rules, as_of=AS_OF, contract_version=8) == 73
    lines = ledger_rows(alice.pk, rules)
    assert {row[4] for row in lines} <= {days_ago(days) for days in (0, 1, 2, 3, 5, 10, 20, 30)}
    assert sum(row[5] for row in lines) == 73


def test_refresh_after_a_new_touchpoint_updates_the_score_and_audits_it(people):
    rules = rules_of(*SECTION["rules"], decay=SECTION["decay"], groups=SECTION["groups"])
    services.scores_recompute_all(rules=rules, as_of=AS_OF, contract_version=7)
    bob = people["bob"]
    make_touchpoint(bob, "form_submit", 0)
    make_touchpoint(bob, "form_submit", 0.5)
    score = tasks.score_person_refresh(bob.pk, SECTION, 7, AS_OF.isoformat()).get()
    assert score == 36  # 25 + 25 * 0.5 ** (0.5 / 30) - 20 * 0.5 ** (1 / 30) + 25 * 0.5 ** (60 / 30) = 36.42
    bob.refresh_from_db()
    assert bob.engagement_score == 36
    entry = AuditEntry.objects.get(action="engagement_score_change")
    assert (entry.entity_id, entry.before, entry.after) == (bob.pk, {"engagement_score": 0}, {"engagement_score": 36})
    assert person_score_ledger(person_id=bob.pk, now=AS_OF, rules=rules).score_now == 36
    # Running it again changes nothing.
    assert tasks.score_person_refresh(bob.pk, SECTION, 7, AS_OF.isoformat()).get() == 36
    assert AuditEntry.objects.filter(action="engagement_score_change").count() == 1


def test_rescore_under_other_rules_replaces_every_score(people):
    rules = rules_of(*SECTION["rules"], decay=SECTION["decay"], groups=SECTION["groups"])
    services.scores_recompute_all(rules=rules, as_of=AS_OF, contract_version=7)
    fewer = rules_of({"name": "Demo form", "touchpoint": "form_submit", "points": 40})
    run = services.scores_recompute_all(rules=fewer, as_of=AS_OF, contract_version=8)
    assert [row[:3:2] for row in ledger_rows(people["bob"].pk, fewer)] == [("Demo form", 40)]
    assert scores_by("email") == {
        "alice@acme.com": 40,
        "bob@acme.com": 40,
        "carol@beta.io": 0,
    }
    assert run.people_changed == 2


def test_fit_scores_are_written_in_the_same_pass(people):
    import numpy as np

    rules = rules_of({"name": "Demo form", "touchpoint": "form_submit", "points": 40})
    fit = services.FitScores(person_id=np.array([people["alice"].pk]), fit_score=np.array([72]))
    services.scores_recompute_all(rules=rules, as_of=AS_OF, contract_version=8, fit=fit)
    assert scores_by("email", "fit_score") == {
        "alice@acme.com": 72,
        "bob@acme.com": 0,
        "carol@beta.io": 0,
    }


def test_refresh_of_a_missing_person_does_nothing(db):
    rules = rules_of({"name": "Demo form", "touchpoint": "form_submit", "points": 40})
    assert services.score_person_refresh(person_id=999, rules=rules, as_of=AS_OF, contract_version=1) == 0
    assert not AuditEntry.objects.filter(action="engagement_score_change").exists()


def make_campaign(name):
    now = timezone.now()
    return Campaign.objects.create(name=name, channel="webinar", created_at=now, updated_at=now)


def test_touchpoints_of_many_people_queue_one_batched_refresh_that_qualifies(db, django_capture_on_commit_callbacks):
    import time_machine

    from tandem.crm.models import StageChange

    people = [make_person(email=f"p{index}@acme.com", stage="lead") for index in range(3)]
    for person in people:
        set_scores(person, fit=80, engagement=0)
    with time_machine.travel(AS_OF, tick=False):
        with django_capture_on_commit_callbacks() as queued:
            make_touchpoint(people[0], "form_submit", 0)
            make_touchpoint(people[0], "page_view", 1, url="https://acme.com/pricing")
            make_touchpoint(people[1], "page_view", 1, url="https://acme.com/pricing")
            services.score_refresh_queue(person_ids=[people[1].pk, people[0].pk, people[2].pk, people[0].pk])
            services.score_refresh_queue(person_ids=[])
        assert len(queued) == 1  # one task for the whole transaction, none for an empty batch
        with django_capture_on_commit_callbacks(execute=True):
            queued[0]()
    scores = {person.email: (person.engagement_score, person.lifecycle_stage_id) for person in Person.objects.all()}
    # Demo request 30 + pricing 10 + page view 2, a day old on a 30-day half-life: 42, over the bar of 40.
    assert scores == {"p0@acme.com": (42, "mql"), "p1@acme.com": (12, "lead"), "p2@acme.com": (0, "lead")}
    assert StageChange.objects.get(to_stage_id="mql").person_id == people[0].pk


def test_a_recorded_touchpoint_queues_a_refresh_under_the_contract_in_force(db, django_capture_on_commit_callbacks):
    import time_machine

    from tandem.contract.selectors import active_version

    person = make_person(email="dana@acme.com")
    with time_machine.travel(AS_OF, tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            make_touchpoint(person, "form_submit", 0)
            make_touchpoint(person, "page_view", 1, url="https://acme.com/pricing")
            services.score_refresh_queue(person_ids=[person.pk])
        person.refresh_from_db()
    # The default contract: demo request 30, pricing 10 and page view 2 a day ago with a 30-day half-life.
    assert person.engagement_score == 42  # 30 + 12 * 0.5 ** (1 / 30) = 41.73
    version = active_version()
    ledger = person_score_ledger(person_id=person.pk, now=AS_OF)
    assert {(line.rule_name, line.contract_version) for line in ledger.lines} == {
        ("Demo request", version.number),
        ("Pricing page", version.number),
        ("Page view", version.number),
    }
    assert ledger.score_now == 42


def test_a_batch_refresh_equals_one_refresh_per_person(people):
    rules = rules_of(*SECTION["rules"], decay=SECTION["decay"], groups=SECTION["groups"])
    services.scores_recompute_all(rules=rules, as_of=AS_OF, contract_version=7)
    bulk = scores_by("id")
    PersonScore.objects.update(engagement_score=0)
    ids = [person.pk for person in people.values()]
    scores = services.scores_refresh_people(person_ids=[*ids, 999_999], rules=rules, as_of=AS_OF, contract_version=7)
    assert scores == {people["alice"].pk: 54, people["bob"].pk: 0, people["carol"].pk: 0}
    assert scores_by("id") == bulk
    assert list(AuditEntry.objects.filter(action="engagement_score_change").values_list("entity_id", flat=True)) == [
        people["alice"].pk
    ]


def test_rescore_writes_a_row_for_every_person_keeping_fit_scores_it_was_not_given(people):
    rules = rules_of(*SECTION["rules"], decay=SECTION["decay"], groups=SECTION["groups"])
    set_scores(people["alice"], fit=55)
    PersonScore.objects.filter(person=people["carol"]).delete()  # e.g. a person loaded outside the application
    services.scores_recompute_all(rules=rules, as_of=AS_OF, contract_version=7)
    rows = {
        row.person_id: (row.fit_score, row.engagement_score, row.contract_version, row.computed_at)
        for row in PersonScore.objects.all()
    }
    assert rows == {
        people["alice"].pk: (55, 54, 7, AS_OF),
        people["bob"].pk: (0, 0, 7, AS_OF),
        people["carol"].pk: (0, 0, 7, AS_OF),
    }
    carol = Person.objects.select_related("scores").get(pk=people["carol"].pk)
    assert (carol.fit_score, carol.engagement_score) == (0, 0)


def test_a_person_without_a_score_row_reads_zero_and_a_refresh_makes_the_row(people):
    rules = rules_of({"name": "Demo form", "touchpoint": "form_submit", "points": 40})
    PersonScore.objects.filter(person=people["bob"]).delete()
    bob = Person.objects.get(pk=people["bob"].pk)
    assert (bob.fit_score, bob.engagement_score) == (0, 0)
    assert services.score_person_refresh(person_id=bob.pk, rules=rules, as_of=AS_OF, contract_version=9) == 40
    row = PersonScore.objects.get(person=bob)
    assert (row.fit_score, row.engagement_score, row.contract_version, row.computed_at) == (0, 40, 9, AS_OF)


def test_full_rescore_leaves_the_score_tables_indexes_and_key_as_they_were(people):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the full rescore drops and rebuilds indexes on PostgreSQL only")

    def indexes():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s ORDER BY 1",
                [PersonScore._meta.db_table],
            )
            return cursor.fetchall()

    before = indexes()
    assert any("UNIQUE" in definition for _, definition in before)  # the primary key is among them
    rules = rules_of(*SECTION["rules"], decay=SECTION["decay"], groups=SECTION["groups"])
    services.scores_recompute_all(rules=rules, as_of=AS_OF, contract_version=7)
    assert indexes() == before
