"""Reads of the shared record: search by prefix, filters on several stages, and the indexes they use."""

import datetime as dt

import pytest
from django.db import connection

from tandem.crm import services
from tandem.crm.models import Person
from tandem.crm.selectors import PersonFilters, person_list, person_queryset
from tandem.crm.tests.factories import SYSTEM, make_person
from tandem.lib import prefix_search

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["rare", "common"])
def people(request, monkeypatch):
    """The cast of a search, searched both as rare prefixes (from the indexes) and common ones (in list order)."""
    if request.param == "common":
        monkeypatch.setattr(prefix_search, "COMMON_MATCHES", 1)
    return _make_people()


def _make_people() -> dict[str, Person]:
    return {
        "kim": make_person(email="kim.lee@acme.com", first_name="Kim", last_name="Lee"),
        "lea": make_person(email="lea@globex.com", first_name="Léa", last_name="Kimura"),
        "bo": make_person(email="bo_x@initech.com", first_name="Bo", last_name="Olsen"),
        "pat": make_person(email="pat%1@initech.com", first_name="Pat", last_name="O'Neil"),
        "ann": make_person(email="ann@kimball.org", first_name="Ann", last_name="Smith"),
    }


def _found(search: str) -> set[str]:
    names = {person.pk: person.email for person in Person.objects.all()}
    return {
        names[pk].split("@")[0] for pk in person_queryset(PersonFilters(search=search)).values_list("pk", flat=True)
    }


def test_search_matches_the_start_of_email_first_or_last_name_ignoring_case(people):
    assert _found("kim") == {"kim.lee", "lea"}
    assert _found("KIM") == {"kim.lee", "lea"}
    assert _found("olsen") == {"bo_x"}
    assert _found("o'n") == {"pat%1"}
    assert _found("léa") == {"lea"}


def test_search_does_not_match_inside_a_word(people):
    assert _found("mura") == set()
    assert _found("acme") == set()


def test_search_with_an_at_sign_looks_at_email_addresses_only(people):
    assert _found("kim.lee@ac") == {"kim.lee"}
    assert _found("KIM.LEE@ACME.COM") == {"kim.lee"}
    assert _found("ann@kim") == {"ann"}
    assert _found("kim@") == set()


def test_search_takes_percent_and_underscore_literally(people):
    assert _found("bo_") == {"bo_x"}
    assert _found("b_") == set()
    assert _found("pat%") == {"pat%1"}
    assert _found("%") == set()


def test_search_by_several_words_matches_any_of_them(people):
    assert _found("ann olsen") == {"ann", "bo_x"}
    assert _found("  smith   ") == {"ann"}


def test_search_finds_people_without_an_email_by_name(people):
    Person.objects.filter(pk=people["bo"].pk).update(email=None)
    page = person_list(filters=PersonFilters(search="bo"))
    assert [row.pk for row in page.rows] == [people["bo"].pk]


def test_rare_prefixes_are_searched_in_indexes_and_common_ones_in_list_order(monkeypatch):
    _make_people()
    if connection.vendor == "postgresql":
        # A handful of rows is cheaper to scan; ask whether an index *can* answer, as at a million rows.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
    # One index on lower(email) serves uniqueness and prefix search (text_pattern_ops on PostgreSQL).
    email_index = "person_email_ci_unique"
    indexes = [email_index, "person_first_name_prefix", "person_last_name_prefix"]
    plan = person_queryset(PersonFilters(search="kim")).explain()
    assert [name for name in indexes if name in plan] == indexes
    assert "SCAN crm_person\n" not in plan + "\n" and "Seq Scan" not in plan
    email_plan = person_queryset(PersonFilters(search="kim.lee@acme")).explain()
    assert [name for name in indexes if name in email_plan] == [email_index]
    if connection.vendor == "sqlite":
        # SQLite cannot tell a common prefix from its statistics, so the count decides.
        monkeypatch.setattr(prefix_search, "COMMON_MATCHES", 2)
        common_plan = person_queryset(PersonFilters(search="kim")).explain()
        assert [name for name in indexes if name in common_plan] == []
        assert "person_activity" in common_plan


def test_lookups_by_email_use_the_one_email_index():
    """Imports and sign-up checks find people by lower(email) through the same index as prefix search."""
    from django.db.models.functions import Lower

    _make_people()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
    lookup = Person.objects.annotate(email_key=Lower("email")).filter(email_key__in=["kim.lee@acme.com", "x@y.io"])
    plan = lookup.explain()
    assert "person_email_ci_unique" in plan
    assert "Seq Scan" not in plan and "SCAN crm_person\n" not in plan + "\n"
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'crm_person' AND indexdef LIKE %s",
                ["%lower((email)%"],
            )
            assert [row[0] for row in cursor.fetchall()] == ["person_email_ci_unique"]


def test_several_stages_are_read_one_by_one_and_paged_like_one_filter(cast, django_assert_num_queries):
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    stages = ["lead", "mql", "sql", "mql", "customer", "sql", "mql", "lead", "sql", "mql", "sql"]
    for index, stage in enumerate(stages):
        # Pairs of people share a last-activity time, so the id must break ties across stages too.
        services.person_create(
            by=SYSTEM,
            email=f"p{index}@x.io",
            lifecycle_stage=stage,
            owner=cast.sdr,
            at=start + dt.timedelta(hours=index // 2),
        )
    expected = list(
        Person.objects.filter(lifecycle_stage_id__in=["mql", "sql"])
        .order_by("-last_activity_at", "-id")
        .values_list("pk", flat=True)
    )
    assert len(expected) == 8
    for owner_id in [None, cast.sdr.pk]:
        filters = PersonFilters(stages=["mql", "sql"], owner_id=owner_id)
        seen, cursor = [], None
        while True:
            # One query per stage finds the candidates, one reads the page with its joins.
            with django_assert_num_queries(3):
                page = person_list(filters=filters, cursor=cursor, limit=3)
            seen += [row.pk for row in page.rows]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert seen == expected
