"""Plain facts from the database for one person: what the Python evaluator needs, read in three queries.

A bulk engine reads the same columns for many people at once (Rule.person_columns, account_columns)
and computes each aggregate once; this is the one-person path (a new touchpoint, a record page).
"""

from __future__ import annotations

import datetime as dt
import json

from django.db.models import F, JSONField

from tandem.lib.rules.catalogue import RELATED_PERSON_FIELDS, TOUCHPOINT_FIELDS
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
    for name in RELATED_PERSON_FIELDS:
        person_values[name] = getattr(person, name)
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


def aggregate_values(aggregates, *, as_of: dt.datetime) -> dict[str, dict[int, object]]:
    """Every person's value of each aggregate, one grouped query per aggregate: {key: {person_id: value}}.

    People without a matching touchpoint are absent: their count is 0 and their `last(...)` blank.
    """
    from django.db.models import Count, Max

    from tandem.engagement.models import Touchpoint
    from tandem.lib.rules.orm import Translator

    translator = Translator(as_of)
    values = {}
    for aggregate in aggregates:
        rows = Touchpoint.objects.filter(person_id__isnull=False, occurred_at__lte=as_of)
        if aggregate.window is not None:
            rows = rows.filter(occurred_at__gte=as_of - aggregate.window)
        if aggregate.touchpoint_type is not None:
            rows = rows.filter(type=aggregate.touchpoint_type)
        if aggregate.where is not None:
            rows = rows.filter(translator.node(aggregate.where))
        measure = Count("pk") if aggregate.function == "count" else Max("occurred_at")
        grouped = rows.order_by().values("person_id").annotate(value=measure).values_list("person_id", "value")
        values[aggregate.key] = dict(grouped)
    return values


def facts_for_people(rules, *, as_of: dt.datetime, people=None, chunk_size: int = 10_000):
    """(person id, Facts) for every person (or those of the `people` queryset), in id order, reading people in
    chunks, accounts once and each aggregate once for everyone: what a full rescore feeds the evaluator."""
    from tandem.crm.models import Account, Person

    aggregates = _aggregates_of(rules)
    values = aggregate_values(aggregates, as_of=as_of)
    defaults = {aggregate.key: 0 if aggregate.function == "count" else None for aggregate in aggregates}
    person_columns = _columns_of(rules, "person_columns")
    account_columns = _columns_of(rules, "account_columns")
    accounts = {}
    if account_columns:
        accounts = {row.pop("pk"): row for row in Account.objects.values("pk", *account_columns).iterator(chunk_size)}
    rows = (people if people is not None else Person.objects.all()).order_by("pk")
    # Most people have no touchpoint in any window: they share one read-only mapping of the defaults.
    with_touchpoints = set().union(*(found.keys() for found in values.values()))
    items = [(key, values[key], default) for key, default in defaults.items()]
    for row in _plain_rows(rows, ["pk", "account_id", *person_columns], chunk_size):
        person_id = row["pk"]
        if person_id in with_touchpoints:
            aggregate_row = {key: found.get(person_id, default) for key, found, default in items}
        else:
            aggregate_row = defaults
        account = accounts.get(row["account_id"]) if account_columns else None
        yield person_id, Facts(person=row, account=account, aggregates=aggregate_row, as_of=as_of)


def _plain_rows(queryset, columns: list[str], chunk_size: int):
    """Rows of a queryset as dicts by attribute name, through a plain cursor: a million rows through
    values() spend most of their time in machinery these few columns do not need. Django's own converters
    still run, for the columns that have any (JSON, and dates and booleans on SQLite)."""
    from django.db import connections

    model = queryset.model
    connection = connections[queryset.db]
    converters = []
    # Person fields kept on a related model (the scores) are read through their relation, keyed by name.
    related = RELATED_PERSON_FIELDS if model._meta.label == "crm.Person" else {}
    sources = [f"{related[name]}__{name}" if name in related else name for name in columns]
    for index, name in enumerate(columns):
        owner = model
        if name in related:
            owner = model._meta.get_field(related[name]).related_model
        field = owner._meta.pk if name == "pk" else owner._meta.get_field(name)
        column = field.get_col(owner._meta.db_table)
        if isinstance(field, JSONField):
            converters.append((index, [_json_decoder()], column))
            continue
        found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if found:
            converters.append((index, found, column))
    sql, params = queryset.values_list(*sources).query.sql_with_params()
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(chunk_size):
            for values in batch:
                if converters:
                    values = list(values)
                    for index, found, column in converters:
                        value = values[index]
                        for converter in found:
                            value = converter(value, column, connection)
                        values[index] = value
                yield dict(zip(columns, values, strict=True))


def _json_decoder():
    """json.loads for one read, remembering texts it has seen: custom fields repeat ({"persona": "Marketer"})
    and the facts are read-only, so people with the same text share one decoded mapping."""
    seen: dict = {}

    def decode(value, column, connection):
        if not isinstance(value, str | bytes):
            return value  # already decoded, or NULL
        decoded = seen.get(value)
        if decoded is None:
            decoded = json.loads(value)
            if len(seen) < 100_000:
                seen[value] = decoded
        return decoded

    return decode


def _columns_of(rules, attribute: str) -> tuple[str, ...]:
    if hasattr(rules, attribute):
        return getattr(rules, attribute)
    return tuple(dict.fromkeys(column for rule in rules for column in getattr(rule, attribute)))
