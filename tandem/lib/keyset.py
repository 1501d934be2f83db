"""Keyset (cursor) pagination: pages stay fast at any depth because no rows are skipped by OFFSET.

Empty (NULL) values of a nullable sort column come last whichever the direction, on SQLite and
PostgreSQL alike (the two disagree by default), and the cursor condition follows the same order.
"""

import base64
import json
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import F, Q, QuerySet


@dataclass(frozen=True)
class Page:
    rows: list
    next_cursor: str | None
    limit: int


def _encode(values: list) -> str:
    raw = json.dumps(values, default=str, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, count: int) -> list:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError):
        raise ValidationError({"cursor": "The cursor is not one this server handed out."}) from None
    if not isinstance(values, list) or len(values) != count:
        raise ValidationError({"cursor": "The cursor does not fit this sort order."})
    return values


@dataclass(frozen=True)
class _Column:
    name: str
    is_descending: bool
    is_nullable: bool

    def same_as(self, value) -> Q:
        return Q(**{f"{self.name}__isnull": True}) if value is None else Q(**{self.name: value})

    def beyond(self, value) -> Q | None:
        """Rows strictly past `value` in this column alone; None when nothing can be (NULLs come last)."""
        if value is None:
            return None
        condition = Q(**{f"{self.name}__{'lt' if self.is_descending else 'gt'}": value})
        return condition | Q(**{f"{self.name}__isnull": True}) if self.is_nullable else condition

    def ordering(self):
        if not self.is_nullable:
            return f"-{self.name}" if self.is_descending else self.name
        expression = F(self.name)
        return expression.desc(nulls_last=True) if self.is_descending else expression.asc(nulls_last=True)


def _field(model, name: str):
    """The model field a sort column names, following relations written `relation__field`."""
    *relations, last = name.split("__")
    for relation in relations:
        model = model._meta.get_field(relation).related_model
    return model._meta.get_field(last)


def _value(row, name: str):
    """The row's value of a sort column, through the (joined) related objects of `relation__field`."""
    *relations, last = name.split("__")
    for relation in relations:
        row = getattr(row, relation)
    return getattr(row, row._meta.get_field(last).attname)


def _columns(order: list[str], model) -> list[_Column]:
    """The sort columns; one on a related model (`relation__field`) needs the query to join it inner."""
    columns = []
    for spec in order:
        name = spec.lstrip("-")
        columns.append(_Column(name, spec.startswith("-"), _field(model, name).null))
    return columns


def _after(columns: list[_Column], values: list) -> Q:
    """Rows strictly after `values` in the order of `columns`."""
    condition = Q()
    for index, column in enumerate(columns):
        beyond = column.beyond(values[index])
        if beyond is None:
            continue
        equal = Q()
        for earlier, value in zip(columns[:index], values[:index], strict=True):
            equal &= earlier.same_as(value)
        condition |= equal & beyond
    # The OR above already implies this bound on the first column; stating it separately lets the
    # database range-scan the sort index instead of sorting every row (seconds at a million rows).
    first, value = columns[0], values[0]
    if value is None:
        bound = Q(**{f"{first.name}__isnull": True})
    else:
        bound = Q(**{f"{first.name}__{'lte' if first.is_descending else 'gte'}": value})
        if first.is_nullable:
            bound |= Q(**{f"{first.name}__isnull": True})
    return bound & condition


def keyset_page(
    queryset: QuerySet, *, order: list[str], cursor: str | None, limit: int, parts: list[Q] | None = None
) -> Page:
    """One page of `queryset` in `order` (which must end in a unique, non-null field) after `cursor`.

    `parts`, when given, narrow `queryset` to the rows that match any of them (one condition per stage
    of a stage filter, say). Each part is read on its own, in order and up to a page of it, so that
    each can range-scan an index that begins with the column the parts differ in, where one query
    over all of them would sort every matching row first; the page is then the first of those.
    """
    columns = _columns(order, queryset.model)
    if cursor:
        values = _decode(cursor, len(order))
        try:
            typed = [
                _field(queryset.model, column.name).to_python(value)
                for column, value in zip(columns, values, strict=True)
            ]
            if any(value is None and not column.is_nullable for column, value in zip(columns, typed, strict=True)):
                raise ValueError("a cursor value is missing")
            queryset = queryset.filter(_after(columns, typed))
        except (ValidationError, ValueError, TypeError):
            raise ValidationError({"cursor": "The cursor is not one this server handed out."}) from None
    ordering = [column.ordering() for column in columns]
    if parts is not None:
        candidates = [
            pk
            for part in parts
            for pk in queryset.filter(part).order_by(*ordering).values_list("pk", flat=True)[: limit + 1]
        ]
        queryset = queryset.filter(pk__in=candidates)
    rows = list(queryset.order_by(*ordering)[: limit + 1])
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = _encode([_value(last, column.name) for column in columns])
    return Page(rows=rows, next_cursor=next_cursor, limit=limit)
