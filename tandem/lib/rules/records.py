"""Plain facts from the database for one person: what the Python evaluator needs, read in three queries.

A bulk engine reads the same columns for many people at once (Rule.person_columns, account_columns)
and computes each aggregate once; this is the one-person path (a new touchpoint, a record page).
"""

from __future__ import annotations

import datetime as dt

from django.db.models import F

from tandem.lib.rules.catalogue import TOUCHPOINT_FIELDS
from tandem.lib.rules.python import Facts


def touchpoint_records(rows) -> list[dict]:
    """Touchpoints as plain records keyed by touchpoint field name; `campaign` is the campaign's name."""
    columns = [name for name in TOUCHPOINT_FIELDS if name != "campaign"]
    return list(rows.values(*columns, "properties", "occurred_at", campaign_name=F("campaign__name")))


def _aggregates_of(rules) -> list:
    if hasattr(rules, "aggregates"):
        return list(rules.aggregates)
    found = {}
    for rule in rules:
        for aggregate in rule.aggregates:
            found.setdefault(aggregate.key, aggregate)
    return list(found.values())


def facts_for_person(person, rules, *, as_of: dt.datetime) -> Facts:
    """The facts the rules need about one person at as_of: their fields, their account's, and every aggregate."""
    from tandem.crm.models import Account, Person
    from tandem.engagement.models import Touchpoint

    person_values = {field.attname: getattr(person, field.attname) for field in Person._meta.concrete_fields}
    account = None
    if person.account_id is not None:
        row = Account.objects.get(pk=person.account_id)
        account = {field.attname: getattr(row, field.attname) for field in Account._meta.concrete_fields}
    aggregates = _aggregates_of(rules)
    values = {}
    if aggregates:
        rows = Touchpoint.objects.filter(person_id=person.pk, occurred_at__lte=as_of).order_by()
        if all(aggregate.window is not None for aggregate in aggregates):
            rows = rows.filter(occurred_at__gte=as_of - max(aggregate.window for aggregate in aggregates))
        records = [{**record, "campaign": record.pop("campaign_name")} for record in touchpoint_records(rows)]
        values = {aggregate.key: aggregate.evaluate(records, as_of) for aggregate in aggregates}
    return Facts(person=person_values, account=account, aggregates=values, as_of=as_of)
