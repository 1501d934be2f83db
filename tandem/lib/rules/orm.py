"""Evaluating a parsed rule in the database: a Q on Person for set-based matching ("who matches now",
backtests at a past as_of). Gives the same answers as the Python evaluator on SQLite and PostgreSQL.

Every comparison is two-valued (a blank value makes it false, never NULL), so `not` means exactly
"the condition does not hold". Account and campaign conditions are EXISTS on the primary key, touchpoint
aggregates EXISTS over the (person, occurred_at) index, stopping at the threshold (LIMIT 1 OFFSET k-1).
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Exists, F, FloatField, Func, OuterRef, Q, TextField
from django.db.models.fields.json import compile_json_path
from django.db.models.functions import Lower
from django.db.models.lookups import (
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    IContains,
    IEndsWith,
    In,
    IsNull,
    IStartsWith,
    LessThan,
    LessThanOrEqual,
)
from django.utils import timezone

from tandem.lib.rules import nodes as n
from tandem.lib.rules.catalogue import ACCOUNT, BOOL, CHOICE, DATE, NUMBER, TEXT
from tandem.lib.rules.python import DAY, day_bounds

TRUE = Q(pk__isnull=False)
# Our own fixed pattern for "text that is a number", the same as the Python evaluator's NUMBER_TEXT.
POSTGRES_NUMBER_TEXT = "^-?[0-9]+(\\.[0-9]+)?$"
# SQLite has no regular expressions of its own: the same language as GLOB tests on the text {x}.
SQLITE_NUMBER_TEXT = (
    "({x} NOT GLOB '*[^0-9.-]*' AND {x} GLOB '*[0-9]*' AND {x} NOT GLOB '?*-*' AND {x} NOT GLOB '*.*.*'"
    " AND {x} NOT GLOB '.*' AND {x} NOT GLOB '*.' AND {x} NOT GLOB '-.*')"
)


class JSONKey(Func):
    """One key of a JSON column as text, number or "true"/"false" — NULL when it holds another kind."""

    def __init__(self, column: str, key: str, kind: str):
        output = FloatField() if kind == NUMBER else TextField()
        super().__init__(F(column), output_field=output)
        self.key, self.kind = key, kind

    def as_sql(self, compiler, connection, **extra_context):
        column, params = compiler.compile(self.get_source_expressions()[0])
        if params:
            raise ValueError("a JSON key is read from a plain column")
        if connection.vendor == "postgresql":
            value, text = f"({column} -> %s::text)", f"({column} ->> %s::text)"
            if self.kind == NUMBER:
                sql = (
                    f"(CASE jsonb_typeof({value}) WHEN 'number' THEN {text}::numeric WHEN 'string' THEN "
                    f"CASE WHEN {text} ~ '{POSTGRES_NUMBER_TEXT}' THEN {text}::numeric END END)"
                )
            else:
                wanted = "string" if self.kind == TEXT else "boolean"
                sql = f"(CASE WHEN jsonb_typeof({value}) = '{wanted}' THEN {text} END)"
            return sql, (self.key,) * sql.count("%s")
        if connection.vendor != "sqlite":
            raise NotImplementedError(f"rules on JSON keys support SQLite and PostgreSQL, not {connection.vendor}")
        kind_of, extract = f"json_type({column}, %s)", f"json_extract({column}, %s)"
        if self.kind == NUMBER:
            sql = (
                f"(CASE {kind_of} WHEN 'integer' THEN {extract} WHEN 'real' THEN {extract} "
                f"WHEN 'text' THEN CASE WHEN {SQLITE_NUMBER_TEXT.format(x=extract)} "
                f"THEN CAST({extract} AS REAL) END END)"
            )
        elif self.kind == TEXT:
            sql = f"(CASE WHEN {kind_of} = 'text' THEN {extract} END)"
        else:
            sql = f"(CASE {kind_of} WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' END)"
        return sql, (compile_json_path([self.key]),) * sql.count("%s")


class JSONKeyFilled(Func):
    """Whether a key of a JSON column holds a value that is not null and not the empty text."""

    conditional = True

    def __init__(self, column: str, key: str):
        from django.db.models import BooleanField

        super().__init__(F(column), output_field=BooleanField())
        self.key = key

    def as_sql(self, compiler, connection, **extra_context):
        column, params = compiler.compile(self.get_source_expressions()[0])
        if connection.vendor == "postgresql":
            return f"(COALESCE({column} ->> %s::text, '') <> '')", (*params, self.key)
        return f"(COALESCE(json_extract({column}, %s), '') <> '')", (*params, compile_json_path([self.key]))


def _value(field, kind: str):
    if field.json_key is not None:
        return JSONKey(field.column, field.json_key, kind)
    if field.related_model is not None:
        return F(field.related_column)
    return F(field.query_path)


def _filled(field, value) -> Q:
    """The value is there: not NULL and, for text, not empty."""
    if field.json_key is not None and value is None:
        return Q(JSONKeyFilled(field.column, field.json_key))
    if field.kind in (TEXT, CHOICE) or (
        field.json_key is not None and isinstance(value, JSONKey) and value.kind == TEXT
    ):
        return Q(IsNull(value, False)) & ~Q(Exact(value, ""))
    return Q(IsNull(value, False))


def _holds(comparison: n.Comparison, value) -> Q:
    """The comparison's test on a value known to be filled; negative operators negate the positive one."""
    operator, values, kind = comparison.operator, comparison.values, comparison.kind
    positive = {n.NE: n.EQ, n.NOT_IN: n.IN}.get(operator)
    if positive is not None:
        return ~_holds(n.Comparison(comparison.operand, positive, values, kind), value)
    if kind == TEXT:
        if operator == n.EQ:
            return Q(Exact(Lower(value), values[0].lower()))
        if operator == n.IN:
            return Q(In(Lower(value), sorted({item.lower() for item in values})))
        lookup = {n.CONTAINS: IContains, n.STARTS_WITH: IStartsWith, n.ENDS_WITH: IEndsWith}
        match = lookup[n.ANY_MATCHES.get(operator, operator)]
        result = Q(match(value, values[0]))
        for item in values[1:]:
            result |= Q(match(value, item))
        return result
    if kind == BOOL and comparison.operand.field.json_key is not None:
        values = tuple("true" if item else "false" for item in values)
    if kind == DATE:
        bounds = [day_bounds(day) for day in values]
        start, after = bounds[0]
        return {
            n.EQ: Q(GreaterThanOrEqual(value, start)) & Q(LessThan(value, after)),
            n.LT: Q(LessThan(value, start)),
            n.LE: Q(LessThan(value, after)),
            n.GT: Q(GreaterThanOrEqual(value, after)),
            n.GE: Q(GreaterThanOrEqual(value, start)),
            n.BETWEEN: Q(GreaterThanOrEqual(value, start)) & Q(LessThan(value, bounds[-1][1])),
        }[operator]
    if operator == n.IN:
        return Q(In(value, list(values)))
    if operator == n.BETWEEN:
        return Q(GreaterThanOrEqual(value, values[0])) & Q(LessThanOrEqual(value, values[1]))
    lookup = {n.EQ: Exact, n.LT: LessThan, n.LE: LessThanOrEqual, n.GT: GreaterThan, n.GE: GreaterThanOrEqual}
    return Q(lookup[operator](value, values[0]))


def _day_interval(comparison: n.Comparison) -> tuple[int | None, int | None, bool]:
    """Whole days [low, high] (None: unbounded) that `days since` must fall in, and whether to negate."""
    operator, values = comparison.operator, comparison.values
    first = values[0]
    intervals = {
        n.EQ: (first, first, False),
        n.NE: (first, first, True),
        n.GE: (first, None, False),
        n.GT: (first + 1, None, False),
        n.LE: (None, first, False),
        n.LT: (None, first - 1, False),
    }
    if operator == n.BETWEEN:
        return values[0], values[1], False
    return intervals[operator]


def _time_range(low, high, as_of: dt.datetime) -> Q:
    """Times whose whole days before as_of fall in [low, high] (at least one of them is set)."""
    result = Q()
    if high is not None:
        result &= Q(occurred_at__gt=as_of - (high + 1) * DAY)
    if low is not None:
        result &= Q(occurred_at__lte=as_of - low * DAY)
    return result


class Translator:
    """Builds the Q for one rule at one as_of."""

    def __init__(self, as_of: dt.datetime):
        self.as_of = as_of

    def node(self, node: n.Node, scope_model=None) -> Q:
        if isinstance(node, n.Negation):
            return ~self.node(node.child, scope_model)
        if isinstance(node, n.AllOf | n.AnyOf):
            result = None
            for child in node.children:
                part = self.node(child, scope_model)
                result = part if result is None else (result & part if isinstance(node, n.AllOf) else result | part)
            return result
        operand = node.operand
        if isinstance(operand, n.CountOperand):
            return self.count(node)
        if isinstance(operand, n.DaysSinceOperand):
            return self.days_since(node)
        return self.field(node)

    def field(self, comparison: n.Comparison) -> Q:
        field = comparison.operand.field
        blank_test = comparison.operator in (n.IS_BLANK, n.IS_NOT_BLANK)
        value = None if blank_test and field.json_key is not None else _value(field, comparison.kind)
        condition = _filled(field, value)
        if not blank_test:
            condition &= _holds(comparison, value)
        condition = self.in_scope(field, condition)
        return ~condition if comparison.operator == n.IS_BLANK else condition

    def in_scope(self, field, condition: Q) -> Q:
        """A condition on an account or campaign column, tested in that row by primary key."""
        if field.scope == ACCOUNT:
            from tandem.crm.models import Account

            return Q(Exists(Account.objects.filter(pk=OuterRef("account_id")).filter(condition)))
        if field.related_model is not None:
            return Q(Exists(field.related_model.objects.filter(pk=OuterRef(field.column)).filter(condition)))
        return condition

    def touchpoints(self, aggregate: n.Aggregate):
        from tandem.engagement.models import Touchpoint

        rows = Touchpoint.objects.filter(person_id=OuterRef("pk"), occurred_at__lte=self.as_of)
        if aggregate.window is not None:
            rows = rows.filter(occurred_at__gte=self.as_of - aggregate.window)
        if aggregate.touchpoint_type is not None:
            rows = rows.filter(type=aggregate.touchpoint_type)
        if aggregate.where is not None:
            rows = rows.filter(self.node(aggregate.where))
        return rows.order_by().values("pk")

    def at_least(self, rows, count: int) -> Q:
        if count <= 0:
            return TRUE
        return Q(Exists(rows[count - 1 : count]))

    def count(self, comparison: n.Comparison) -> Q:
        rows = self.touchpoints(comparison.operand.aggregate)
        operator, values = comparison.operator, comparison.values
        first = values[0]
        at_least = lambda count: self.at_least(rows, count)  # noqa: E731
        return {
            n.EQ: lambda: at_least(first) & ~at_least(first + 1),
            n.NE: lambda: ~at_least(first) | at_least(first + 1),
            n.GE: lambda: at_least(first),
            n.GT: lambda: at_least(first + 1),
            n.LT: lambda: ~at_least(first),
            n.LE: lambda: ~at_least(first + 1),
            n.BETWEEN: lambda: at_least(values[0]) & ~at_least(values[-1] + 1),
        }[operator]()

    def days_since(self, comparison: n.Comparison) -> Q:
        source = comparison.operand.source
        if not isinstance(source, n.Aggregate):
            return self.days_since_field(comparison, source.field)
        rows = self.touchpoints(source)
        any_row = Q(Exists(rows))
        if comparison.operator in (n.IS_BLANK, n.IS_NOT_BLANK):
            return ~any_row if comparison.operator == n.IS_BLANK else any_row
        low, high, negate = _day_interval(comparison)
        latest_in_range = Q(Exists(rows.filter(_time_range(low, high, self.as_of))))
        if low is not None:  # nothing later than the range, or the latest would be later
            latest_in_range &= ~Q(Exists(rows.filter(occurred_at__gt=self.as_of - low * DAY)))
        return any_row & ~latest_in_range if negate else latest_in_range

    def days_since_field(self, comparison: n.Comparison, field) -> Q:
        value = F(field.query_path)
        filled = Q(IsNull(value, False))
        if comparison.operator in (n.IS_BLANK, n.IS_NOT_BLANK):
            condition = self.in_scope(field, filled)
            return ~condition if comparison.operator == n.IS_BLANK else condition
        low, high, negate = _day_interval(comparison)
        in_range = Q()  # every interval has at least one bound, so this never stays empty
        if high is not None:
            in_range &= Q(GreaterThan(value, self.as_of - (high + 1) * DAY))
        if low is not None:
            in_range &= Q(LessThanOrEqual(value, self.as_of - low * DAY))
        return self.in_scope(field, filled & (~in_range if negate else in_range))


def to_q(rule, *, as_of: dt.datetime | None = None) -> Q:
    """A Q on Person that holds for exactly the people the rule matches at as_of (default: now)."""
    return Translator(as_of or timezone.now()).node(rule.node)
