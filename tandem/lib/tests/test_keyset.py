"""Keyset pagination over real tables, including sort columns that may be empty (NULL)."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Q

from tandem.crm.models import Account, Opportunity, Person
from tandem.crm.tests.factories import make_account, make_opportunity, make_person
from tandem.lib.keyset import _encode, keyset_page
from tandem.scoring.tests.factories import set_scores

pytestmark = pytest.mark.django_db


def _walk(queryset, order: list[str], limit: int, parts: list[Q] | None = None) -> list[int]:
    """The ids of every page, first to last, following each page's cursor."""
    seen, cursor = [], None
    while True:
        page = keyset_page(queryset, order=order, cursor=cursor, limit=limit, parts=parts)
        seen += [row.pk for row in page.rows]
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


def _people_scored(scores: list[tuple[int, int | None]]) -> list[Person]:
    people = [make_person(email=f"p{index}@example.org") for index in range(len(scores))]
    for person, (fit, predictive) in zip(people, scores, strict=True):
        Person.objects.filter(pk=person.pk).update(predictive_score=predictive)
        set_scores(person, fit=fit)
    return people


# Empty values first, in the middle of ties, and at page boundaries of every size tried below.
PREDICTIVE = [None, 40, None, 70, 40, None, 10, 70, None, 40]


def test_ascending_nullable_sort_pages_every_row_once_with_empty_values_last():
    people = _people_scored([(0, score) for score in PREDICTIVE])
    by_score = {p.pk: s for p, s in zip(people, PREDICTIVE, strict=True)}
    filled = sorted((pk for pk, s in by_score.items() if s is not None), key=lambda pk: (by_score[pk], pk))
    empty = sorted(pk for pk, s in by_score.items() if s is None)
    for limit in [1, 2, 3, 4, 100]:
        assert _walk(Person.objects.all(), ["predictive_score", "id"], limit) == filled + empty, limit


def test_descending_nullable_sort_pages_every_row_once_with_empty_values_last():
    people = _people_scored([(0, score) for score in PREDICTIVE])
    by_score = {p.pk: s for p, s in zip(people, PREDICTIVE, strict=True)}
    filled = sorted((pk for pk, s in by_score.items() if s is not None), key=lambda pk: (-by_score[pk], -pk))
    empty = sorted((pk for pk, s in by_score.items() if s is None), reverse=True)
    for limit in [1, 2, 3, 4, 100]:
        assert _walk(Person.objects.all(), ["-predictive_score", "-id"], limit) == filled + empty, limit


def test_nullable_column_after_a_tie_breaking_first_column():
    scores = [(50, None), (50, 30), (20, None), (50, 30), (20, 90), (50, None), (20, 10)]
    people = _people_scored(scores)
    rows = [(fit, predictive, person.pk) for person, (fit, predictive) in zip(people, scores, strict=True)]
    # fit_score ascending, then predictive_score descending with empty ones last, then id.
    expected = [pk for _, _, pk in sorted(rows, key=lambda row: (row[0], row[1] is None, -(row[1] or 0), row[2]))]
    for limit in [1, 2, 3, 100]:
        # The fit score is on the related score row, joined inner as the people list does.
        scored = Person.objects.filter(scores__isnull=False).select_related("scores")
        assert _walk(scored, ["scores__fit_score", "-predictive_score", "id"], limit) == expected, limit


def test_opportunities_without_a_close_date_come_after_the_dated_ones():
    account = make_account()
    dates = [None, dt.date(2026, 3, 1), dt.date(2026, 1, 1), None, dt.date(2026, 3, 1), None]
    deals = [make_opportunity(account, name=f"Deal {index}", close_date=day) for index, day in enumerate(dates)]
    dated = sorted((d for d in deals if d.close_date), key=lambda d: (d.close_date, d.pk))
    undated = sorted((d for d in deals if d.close_date is None), key=lambda d: d.pk)
    expected = [deal.pk for deal in dated + undated]
    for limit in [1, 2, 4, 100]:
        assert _walk(Opportunity.objects.all(), ["close_date", "id"], limit) == expected, limit


def test_accounts_of_unknown_size_come_after_the_largest_to_smallest():
    sizes = [None, 500, 12, None, 500, 40]
    accounts = [
        make_account(name=f"A{index}", domain=f"a{index}.com", employee_count=size) for index, size in enumerate(sizes)
    ]
    known = sorted((a for a in accounts if a.employee_count is not None), key=lambda a: (-a.employee_count, -a.pk))
    unknown = sorted((a for a in accounts if a.employee_count is None), key=lambda a: -a.pk)
    expected = [account.pk for account in known + unknown]
    for limit in [1, 2, 3, 100]:
        assert _walk(Account.objects.all(), ["-employee_count", "-id"], limit) == expected, limit


def test_a_cursor_with_an_empty_value_for_a_required_column_is_refused():
    make_person()
    with pytest.raises(ValidationError) as refused:
        keyset_page(Person.objects.all(), order=["-last_activity_at", "-id"], cursor=_encode([None, 5]), limit=5)
    assert refused.value.message_dict == {"cursor": ["The cursor is not one this server handed out."]}


def test_pages_read_in_parts_are_the_pages_of_the_whole():
    stages = ["lead", "mql", "sql", "mql", "lead", "customer", "sql", "mql", "lead", "mql"]
    people = _people_scored([(index % 3, score) for index, score in enumerate(PREDICTIVE)])
    for person, stage in zip(people, stages, strict=True):
        Person.objects.filter(pk=person.pk).update(lifecycle_stage_id=stage)
    wanted = ["mql", "sql", "customer"]
    parts = [Q(lifecycle_stage_id=stage) for stage in wanted]
    scored = Person.objects.filter(scores__isnull=False).select_related("scores")
    in_wanted_stages = scored.filter(lifecycle_stage_id__in=wanted)
    assert in_wanted_stages.count() == 7
    orders = (
        ["-scores__fit_score", "-id"],
        ["predictive_score", "id"],
        ["-predictive_score", "scores__fit_score", "-id"],
    )
    for order in orders:
        for limit in [1, 2, 3, 100]:
            expected = _walk(in_wanted_stages, order, limit)
            assert _walk(scored, order, limit, parts) == expected, (order, limit)
