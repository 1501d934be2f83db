"""The Python evaluator (on one person's facts, or everyone's read in bulk) and the database (to_q) give the
same, exact answers on one seeded company."""

import datetime as dt
from decimal import Decimal

import pytest

from tandem.campaigns.models import Campaign
from tandem.crm.models import Account, Person
from tandem.crm.tests.factories import make_account, make_person
from tandem.engagement.models import Touchpoint
from tandem.lib.rules import evaluate, facts_for_people, facts_for_person, parse, to_q
from tandem.scoring.tests.factories import set_scores

AS_OF = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
EVERYONE = {"ann", "bob", "cat", "dan", "eve", "fay"}


def ago(days: float) -> dt.datetime:
    return AS_OF - days * DAY


@pytest.fixture
def company(db):
    """Four accounts and six people with custom fields and touchpoints around AS_OF."""
    acme = make_account(
        "Acme", "acme.com", industry="Software", employee_count=250, annual_revenue="5000000.50", country="US"
    )
    bank = make_account("Bank", "bank.com", industry="Fintech", employee_count=40, country="GB")
    shop = make_account("Shop", "shop.com")
    mega = make_account("Mega", "mega.com", industry="software", employee_count=5000, country="DE")
    Account.objects.filter(pk=acme.pk).update(
        is_target_account=True, custom_fields={"plan": "Enterprise", "seats": "250", "partner": True}
    )
    Account.objects.filter(pk=bank.pk).update(custom_fields={"plan": "", "seats": 40, "partner": False})
    Account.objects.filter(pk=shop.pk).update(custom_fields={"seats": "lots"})
    people = {}
    rows = [
        ("ann", "ann@acme.com", "mql", acme, "VP Marketing", 72, 41, {"segment": "enterprise", "score": "12"},
         "2026-01-15T10:00"),
        ("bob", "bob@gmail.com", "lead", None, "Engineer", 10, 5, {}, "2026-05-30T09:00"),
        ("cat", "cat@bank.com", "sal", bank, "Head of Growth", 55, 60, {"segment": "SMB", "score": 7},
         "2025-12-31T23:30"),
        ("dan", "dan@shop.com", "subscriber", shop, "", 0, 0, {"segment": ""}, "2026-05-31T13:00"),
        ("eve", "eve@mega.com", "customer", mega, "Chief Revenue Officer", 90, 20, {"segment": None},
         "2024-03-01T00:00"),
        ("fay", "fay@yahoo.com", "lead", None, "vp sales", 60, 40, {"score": "n/a"}, "2026-06-02T08:00"),
    ]  # fmt: skip
    for key, email, stage, account, title, fit, engagement, custom, created in rows:
        person = make_person(email, stage, title=title, account=account)
        created_at = dt.datetime.fromisoformat(created).replace(tzinfo=dt.UTC)
        Person.objects.filter(pk=person.pk).update(
            account=account,
            custom_fields=custom,
            created_at=created_at,
            stage_entered_at=created_at,
            consent_email=key == "fay",
        )
        set_scores(person, fit=fit, engagement=engagement)
        people[key] = person
    now = AS_OF
    webinar = Campaign.objects.create(name="Q3 Webinar", channel="events", created_at=now, updated_at=now)

    def touch(key, kind, when, **fields):
        Touchpoint.objects.create(person=people[key], type=kind, occurred_at=when, **fields)

    touch("ann", "form_submit", ago(2))
    touch("ann", "page_view", ago(3), url="https://acme.example/pricing")
    touch("ann", "page_view", ago(10), url="https://acme.example/pricing/teams")
    touch("ann", "page_view", ago(1), url="https://acme.example/blog")
    touch("ann", "webinar", ago(20), campaign=webinar)
    touch("ann", "email_click", ago(40), properties={"action": "unsubscribe"})
    touch("ann", "form_submit", AS_OF + DAY)  # after as_of: never counted
    touch("bob", "page_view", ago(13), url="https://x.example/pricing", utm_source="google")
    touch("bob", "form_submit", ago(31))
    touch("cat", "form_submit", ago(30))  # exactly on the window's edge: counted
    touch("cat", "page_view", ago(1), url="https://x.example/PRICING")
    touch("cat", "webinar", ago(5), campaign=webinar, properties={"attended": True, "minutes": "45"})
    touch("eve", "email_open", ago(100))
    touch("eve", "content_download", ago(7), properties={"asset": "ebook"})
    touch("fay", "form_submit", ago(6))
    touch("fay", "form_submit", ago(8))
    touch("fay", "chat", AS_OF)
    return {key: Person.objects.get(pk=person.pk) for key, person in people.items()}


CASES = [
    ('account.industry in ["Software", "Fintech"]', {"ann", "cat", "eve"}),
    ('account.industry in ["Software", "Fintech"] and account.employee_count between 50 and 1000', {"ann"}),
    ('not (account.industry = "Software")', {"bob", "cat", "dan", "fay"}),
    ('account.industry != "Software"', {"cat"}),
    ("account.industry is blank", {"bob", "dan", "fay"}),
    ("account.industry is not blank", {"ann", "cat", "eve"}),
    ("count(form_submit, last 30 days) >= 1", {"ann", "cat", "fay"}),
    ('count(page_view where url contains "/pricing", last 14 days) >= 2', {"ann"}),
    ('count(page_view where url contains "/pricing", last 14 days) = 1', {"bob", "cat"}),
    ("count(form_submit, last 30 days) = 0", {"bob", "dan", "eve"}),
    ("count(any, last 7 days) between 2 and 3", {"ann", "cat", "fay"}),
    ("count(form_submit) > 1", {"fay"}),
    ("count(form_submit) != 1", {"dan", "eve", "fay"}),
    ("count(any, last 48 hours) < 2", {"bob", "cat", "dan", "eve", "fay"}),
    ("count(any where type in [form_submit, chat], last 7 days) >= 2", {"fay"}),
    ("count(any where type != page_view and referrer is blank, last 7 days) = 1", {"ann", "cat", "eve"}),
    ('not (email ends with "@gmail.com") or title contains any ["VP", "Head", "Chief"]', EVERYONE - {"bob"}),
    ('title contains any ["VP", "Head", "Chief"]', {"ann", "cat", "eve", "fay"}),
    ('email starts with "ANN"', {"ann"}),
    ('title ends with any ["sales", "officer"]', {"eve", "fay"}),
    ('title not in ["engineer", "vp sales"]', {"ann", "cat", "eve"}),
    ("fit_score >= 60 and engagement_score >= 40", {"ann", "fay"}),
    ('custom.segment = "enterprise"', {"ann"}),
    ('custom.segment in ["enterprise", "smb"]', {"ann", "cat"}),
    ("custom.segment is blank", {"bob", "dan", "eve", "fay"}),
    ("account.custom.plan is blank", {"bob", "cat", "dan", "eve", "fay"}),
    ("account.custom.seats >= 100", {"ann"}),
    ("account.custom.seats < 100", {"cat"}),
    ("account.custom.partner = true", {"ann"}),
    ("account.custom.partner = false", {"cat"}),
    ("custom.score > 5", {"ann", "cat"}),
    ('custom.score = "12"', {"ann"}),
    ("lifecycle_stage in [mql, sal]", {"ann", "cat"}),
    ("lifecycle_stage != customer", EVERYONE - {"eve"}),
    ("lead_status is blank", {"cat", "dan", "eve"}),
    ('account.country = "us"', {"ann"}),
    ('account.country in ["US", "GB"]', {"ann", "cat"}),
    ("account.is_target_account = true", {"ann"}),
    ("account.annual_revenue > 5000000", {"ann"}),
    ("account.annual_revenue = 5000000.5", {"ann"}),
    ("account.lifecycle_stage is blank", EVERYONE),
    ("consent_email = false", EVERYONE - {"fay"}),
    ('created_at >= "2026-01-01"', {"ann", "bob", "dan", "fay"}),
    ('created_at = "2025-12-31"', {"cat"}),
    ('created_at between "2026-05-30" and "2026-05-31"', {"bob", "dan"}),
    ('created_at != "2025-12-31"', EVERYONE - {"cat"}),
    ("days since created_at > 14", {"ann", "cat", "eve"}),
    ("days since created_at < 1", {"dan", "fay"}),
    ("days since created_at = 2", {"bob"}),
    ("days since last(form_submit) <= 7", {"ann", "fay"}),
    ("days since last(form_submit) > 30", {"bob"}),
    ("days since last(form_submit) is blank", {"dan", "eve"}),
    ("days since last(any) = 0", {"fay"}),
    ("days since last(form_submit) != 2", {"bob", "cat", "fay"}),
    ("days since last(form_submit) between 5 and 30", {"cat", "fay"}),
    ('count(webinar where campaign = "q3 webinar", last 30 days) >= 1', {"ann", "cat"}),
    ('count(any where properties.action = "unsubscribe") >= 1', {"ann"}),
    ("count(webinar where properties.minutes >= 30 and properties.attended = true) >= 1", {"cat"}),
    ("count(page_view where utm_source is not blank, last 30 days) >= 1", {"bob"}),
    ("count(any where campaign is blank, last 30 days) >= 3", {"ann", "fay"}),
    ('count(content_download where properties.asset in ["ebook", "guide"], last 7 days) = 1', {"eve"}),
    ('count(any where not (url contains "pricing"), last 14 days) >= 3', {"fay"}),
    ('not (custom.segment = "enterprise" or account.industry = "Fintech")', {"bob", "dan", "eve", "fay"}),
    ("account.employee_count not in [40, 250]", {"eve"}),
    ({"any": ["fit_score >= 80", {"all": ["lifecycle_stage = lead", "not (title is blank)"]}]}, {"bob", "eve", "fay"}),
    ({"not": {"any": ["custom.segment is blank", "fit_score < 60"]}}, {"ann"}),
]


def _python_matches(company, rule) -> set[str]:
    return {key for key, person in company.items() if evaluate(rule, facts_for_person(person, rule, as_of=AS_OF))}


def _bulk_matches(company, rule) -> set[str]:
    keys = {person.pk: key for key, person in company.items()}
    return {keys[person_id] for person_id, facts in facts_for_people(rule, as_of=AS_OF) if evaluate(rule, facts)}


def _database_matches(company, rule) -> set[str]:
    keys = {person.pk: key for key, person in company.items()}
    return {keys[pk] for pk in Person.objects.filter(to_q(rule, as_of=AS_OF)).values_list("pk", flat=True)}


@pytest.mark.parametrize(("condition", "expected"), CASES, ids=[str(case[0]) for case in CASES])
def test_python_and_database_give_the_expected_people(company, condition, expected):
    rule = parse(condition)
    assert _python_matches(company, rule) == expected
    assert _bulk_matches(company, rule) == expected
    assert _database_matches(company, rule) == expected


def test_a_backtest_at_an_earlier_time_sees_only_what_had_happened_by_then(company):
    rule = parse("count(form_submit, last 30 days) >= 1")
    earlier = AS_OF - 25 * DAY  # ann's and fay's submits come later; bob's is 6 days old then, cat's 5
    keys = {person.pk: key for key, person in company.items()}
    matched = {keys[pk] for pk in Person.objects.filter(to_q(rule, as_of=earlier)).values_list("pk", flat=True)}
    assert matched == {"bob", "cat"}
    in_python = {
        key for key, person in company.items() if evaluate(rule, facts_for_person(person, rule, as_of=earlier))
    }
    assert in_python == {"bob", "cat"}


def test_a_count_stops_at_its_threshold_in_one_exists_per_bound(company, django_assert_num_queries):
    rule = parse("count(any, last 30 days) between 2 and 4")
    sql = str(Person.objects.filter(to_q(rule, as_of=AS_OF)).query)
    assert sql.count("EXISTS") == 2
    assert "OFFSET 1" in sql and "OFFSET 4" in sql
    with django_assert_num_queries(1):
        matched = set(Person.objects.filter(to_q(rule, as_of=AS_OF)).values_list("email", flat=True))
    assert matched == {"cat@bank.com", "fay@yahoo.com"}


def test_facts_for_a_person_hold_each_aggregate_by_its_key(company):
    rule = parse(
        'count(form_submit, last 30 days) >= 1 and days since last(page_view where url contains "pricing") < 5'
    )
    facts = facts_for_person(company["ann"], rule, as_of=AS_OF)
    assert facts.aggregates == {
        "count(form_submit, last 30 days)": 1,
        'last(page_view where url contains "pricing")': ago(3),
    }
    assert facts.account["industry"] == "Software"
    assert facts.account["annual_revenue"] == Decimal("5000000.50")


def test_bulk_facts_read_people_accounts_and_each_aggregate_in_a_fixed_number_of_queries(
    company, django_assert_num_queries
):
    rule = parse(
        "count(form_submit, last 30 days) >= 1 and days since last(page_view) < 5 and account.industry is not blank"
    )
    with django_assert_num_queries(4):  # two aggregates, the accounts, the people
        facts = dict(facts_for_people(rule, as_of=AS_OF, chunk_size=2))
    ann, dan = facts[company["ann"].pk], facts[company["dan"].pk]
    assert ann.aggregates == {"count(form_submit, last 30 days)": 1, "last(page_view)": ago(1)}
    assert dan.aggregates == {"count(form_submit, last 30 days)": 0, "last(page_view)": None}
    assert ann.account == {"industry": "Software"}
    assert facts[company["bob"].pk].account is None
