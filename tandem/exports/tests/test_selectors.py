"""Reading the rows of an export: custom-field keys from the database, few queries, the lists' filters."""

import pytest

from tandem.crm import selectors as crm_selectors
from tandem.crm.models import Opportunity, Person
from tandem.crm.selectors import AccountFilters, OpportunityFilters, PersonFilters
from tandem.crm.tests.factories import make_account, make_opportunity, make_person
from tandem.exports.selectors import custom_field_keys, export_queryset, export_rows

pytestmark = pytest.mark.django_db


def test_custom_field_keys_are_enumerated_by_the_database_for_the_filtered_rows():
    lead = make_person(email="a@acme.com", stage="lead", custom_fields={"zeta": 1, "alpha": "x"})
    make_person(email="b@acme.com", stage="mql", custom_fields={"beta": True})
    make_person(email="c@acme.com", stage="lead")
    Person.objects.filter(email="c@acme.com").update(custom_fields=["not", "an", "object"])

    assert custom_field_keys(export_queryset("people", PersonFilters())) == ["alpha", "beta", "zeta"]
    assert custom_field_keys(export_queryset("people", PersonFilters(stages=["lead"]))) == ["alpha", "zeta"]
    assert lead.custom_fields == {"zeta": 1, "alpha": "x"}


def test_a_row_whose_custom_fields_are_not_an_object_gets_empty_custom_cells():
    make_person(email="a@acme.com", custom_fields={"alpha": "x"})
    odd = make_person(email="b@acme.com")
    Person.objects.filter(pk=odd.pk).update(custom_fields=["x"])

    rows = export_rows("people", PersonFilters())

    assert rows.custom_keys == ["alpha"]
    assert [row[-1] for row in rows.iterate()] == [{"alpha": "x"}, ["x"]]


def test_an_export_reads_its_rows_in_two_queries_whatever_their_number(django_assert_num_queries):
    account = make_account()
    for number in range(30):
        make_person(email=f"p{number}@acme.com", account=account, custom_fields={"n": number})

    # The custom-field keys, then the rows with their account and owner joined.
    with django_assert_num_queries(2):
        rows = list(export_rows("people", PersonFilters()).iterate())

    assert len(rows) == 30
    assert rows[0][9] == "Acme"


def test_rows_come_in_id_order():
    late = make_person(email="z@acme.com")
    early = make_person(email="a@acme.com")

    assert [row[0] for row in export_rows("people", PersonFilters()).iterate()] == [late.pk, early.pk]


def _every_page(load) -> list[int]:
    ids, cursor = [], None
    while True:
        page = load(cursor)
        ids += [row.pk for row in page.rows]
        cursor = page.next_cursor
        if cursor is None:
            return sorted(ids)


@pytest.mark.parametrize(
    "filters",
    [
        AccountFilters(),
        AccountFilters(search="ac"),
        AccountFilters(search="glob"),
        AccountFilters(industry="Software"),
        AccountFilters(region="EMEA", is_target_account=True),
        AccountFilters(icp_tier=2),
    ],
)
def test_account_export_holds_the_rows_the_account_list_shows(cast, filters):
    make_account(name="Acme", domain="acme.com", industry="Software", region="EMEA", is_target_account=True)
    make_account(name="Globex", domain="globex.com", industry="Software", icp_tier=2, owner=cast.ae)
    make_account(name="Initech", domain="initech.com", region="EMEA")
    make_account(name="Unsized", domain="", employee_count=None)

    listed = _every_page(lambda cursor: crm_selectors.account_list(filters=filters, cursor=cursor, limit=2))

    assert [row[0] for row in export_rows("accounts", filters).iterate()] == listed
    assert listed


@pytest.mark.parametrize(
    "filters",
    [
        OpportunityFilters(),
        OpportunityFilters(search="renew"),
        OpportunityFilters(stages=["proposal", "discovery"]),
        OpportunityFilters(is_open=True),
        OpportunityFilters(is_open=False),
        OpportunityFilters(forecast_category="best_case"),
    ],
)
def test_opportunity_export_holds_the_rows_the_opportunity_list_shows(cast, filters):
    account = make_account()
    make_opportunity(account, name="Platform", stage="proposal")
    make_opportunity(account, name="Renewal 2026", stage="discovery")
    make_opportunity(account, name="Lost renewal", stage="closed_lost", lost_reason="Price")
    undated = make_opportunity(account, name="Undated", stage="negotiation")
    Opportunity.objects.filter(pk=undated.pk).update(close_date=None, account=None)

    listed = _every_page(lambda cursor: crm_selectors.opportunity_list(filters=filters, cursor=cursor, limit=2))

    assert [row[0] for row in export_rows("opportunities", filters).iterate()] == listed
    assert listed
