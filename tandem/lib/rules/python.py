"""Evaluating a parsed rule on plain data: the tree is compiled once to nested closures, so a call costs
a few dictionary reads and comparisons, with no walk over the tree."""

from __future__ import annotations

import datetime as dt
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial

from tandem.lib.rules import nodes as n
from tandem.lib.rules.catalogue import ACCOUNT, ANY, BOOL, CHOICE, DATE, NUMBER, PERSON, TEXT, TOUCHPOINT

EMPTY: Mapping = {}
DAY = dt.timedelta(days=1)
# Custom fields imported from files hold text: "250" compares as the number 250. A fixed pattern, linear.
NUMBER_TEXT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


@dataclass(slots=True)
class Facts:
    """What a rule is evaluated on, as plain data.

    person and account: mappings by model attribute name (`title`, `lifecycle_stage_id`, `custom_fields`,
    `employee_count` ...), account None when the person has none; aggregates: the value of each of the
    rule's aggregates by its key (a count, or the latest occurred_at for `last(...)`); as_of: the time the
    rule is evaluated at (windows and `days since` count back from it).
    """

    person: Mapping = field(default_factory=dict)
    account: Mapping | None = None
    aggregates: Mapping = field(default_factory=dict)
    as_of: dt.datetime | None = None


def as_facts(facts) -> Facts:
    """Facts from a plain mapping with the same keys (person, account, aggregates, as_of), or as given."""
    if type(facts) is Facts:
        return facts
    if isinstance(facts, Mapping):
        unknown = sorted(set(facts) - {"person", "account", "aggregates", "as_of"})
        if unknown:
            raise TypeError(f"facts have person, account, aggregates and as_of; not {', '.join(unknown)}")
        return Facts(**facts)
    return facts  # any object with those attributes


def _as_number(value):
    kind = type(value)
    if kind is int or kind is float:
        return value
    if kind is Decimal:
        return float(value)
    if kind is str and NUMBER_TEXT.fullmatch(value):
        return float(value) if "." in value else int(value)
    return None


def _reader(item, scope: str) -> Callable:
    """A function from facts (or a touchpoint record) to the raw stored value of a field."""
    key = item.column if scope != TOUCHPOINT or item.json_key else item.name
    json_key = item.json_key
    if scope == TOUCHPOINT:
        if json_key is not None:
            return lambda record: (record.get(key) or EMPTY).get(json_key)
        return lambda record: record.get(key)
    if scope == ACCOUNT:
        if json_key is not None:
            return lambda facts: ((facts.account or EMPTY).get(key) or EMPTY).get(json_key)
        return lambda facts: (facts.account or EMPTY).get(key)
    if json_key is not None:
        return lambda facts: (facts.person.get(key) or EMPTY).get(json_key)
    return lambda facts: facts.person.get(key)


def value_getter(comparison: n.Comparison) -> Callable:
    """A function from facts to the operand's value as the comparison sees it; None when blank."""
    operand, kind = comparison.operand, comparison.kind
    if isinstance(operand, n.CountOperand):
        key = operand.aggregate.key
        return lambda facts: facts.aggregates[key]
    if isinstance(operand, n.DaysSinceOperand):
        source = operand.source
        if isinstance(source, n.Aggregate):
            key = source.key
            read_time = lambda facts: facts.aggregates[key]  # noqa: E731
        else:
            read_time = _reader(source.field, source.field.scope)

        def days_since(facts):
            moment = read_time(facts)
            return None if moment is None else (facts.as_of - moment) // DAY

        return days_since
    item = operand.field
    read = _reader(item, item.scope)
    if item.kind == ANY:  # custom fields and properties take the kind of what they are compared with
        if kind == NUMBER:
            return lambda facts: _as_number(read(facts))
        if kind == BOOL:
            return lambda facts: value if type(value := read(facts)) is bool else None
        if kind == TEXT:
            return lambda facts: value if type(value := read(facts)) is str and value else None
        return lambda facts: None if (value := read(facts)) is None or value == "" else value
    if item.kind == NUMBER and item.is_decimal:
        return lambda facts: None if (value := read(facts)) is None else float(value)
    if item.kind in (NUMBER, BOOL, DATE):
        return read
    return lambda facts: read(facts) or None  # text and choices: "" is blank


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """A date in a rule is a whole day in UTC: its first instant and the first instant of the next day."""
    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    return start, start + DAY


def value_test(comparison: n.Comparison) -> Callable:
    """A function from a (non-blank) value to whether the comparison holds."""
    operator, values, kind = comparison.operator, comparison.values, comparison.kind
    if kind == TEXT:
        lowered = tuple(value.lower() for value in values)
        first = lowered[0]
        tests = {
            n.EQ: lambda value: value.lower() == first,
            n.NE: lambda value: value.lower() != first,
            n.CONTAINS: lambda value: first in value.lower(),
            n.STARTS_WITH: lambda value: value.lower().startswith(first),
            n.ENDS_WITH: lambda value: value.lower().endswith(first),
            n.STARTS_WITH_ANY: lambda value: value.lower().startswith(lowered),
            n.ENDS_WITH_ANY: lambda value: value.lower().endswith(lowered),
        }
        if operator in (n.IN, n.NOT_IN):
            members = frozenset(lowered)
            if operator == n.IN:
                return lambda value: value.lower() in members
            return lambda value: value.lower() not in members
        if operator == n.CONTAINS_ANY:

            def contains_any(value):
                value = value.lower()
                for part in lowered:  # noqa: SIM110 - a plain loop is faster than any() over a generator
                    if part in value:
                        return True
                return False

            return contains_any
        return tests[operator]
    if kind == DATE:
        bounds = [day_bounds(day) for day in values]
        start, after = bounds[0]
        return {
            n.EQ: lambda value: start <= value < after,
            n.NE: lambda value: not start <= value < after,
            n.LT: lambda value: value < start,
            n.LE: lambda value: value < after,
            n.GT: lambda value: value >= after,
            n.GE: lambda value: value >= start,
            n.BETWEEN: lambda value: start <= value < bounds[-1][1],
        }[operator]
    if operator in (n.IN, n.NOT_IN):
        members = frozenset(values)
        return members.__contains__ if operator == n.IN else lambda value: value not in members
    if operator == n.BETWEEN:
        low, high = values
        return lambda value: low <= value <= high
    first = values[0]
    return {
        n.EQ: lambda value: value == first,
        n.NE: lambda value: value != first,
        n.LT: lambda value: value < first,
        n.LE: lambda value: value <= first,
        n.GT: lambda value: value > first,
        n.GE: lambda value: value >= first,
    }[operator]


# value OP literal as a C-level call on the value: partial(reflected operator, literal).
REFLECTED = {
    n.EQ: operator.eq,
    n.NE: operator.ne,
    n.LT: operator.gt,
    n.LE: operator.ge,
    n.GT: operator.lt,
    n.GE: operator.le,
}


def _fast_check(comparison: n.Comparison) -> tuple[Callable, bool] | None:
    """For the common operators, a check on a (lower-cased, for text) value that runs without a Python
    frame, and whether to negate it; None where the general path is needed."""
    operator_, values, kind = comparison.operator, comparison.values, comparison.kind
    positive = {n.NE: n.EQ, n.NOT_IN: n.IN}.get(operator_, operator_)
    negate = positive != operator_
    if kind == TEXT:
        lowered = tuple(value.lower() for value in values)
        checks = {
            n.EQ: lambda: lowered[0].__eq__,
            n.IN: lambda: frozenset(lowered).__contains__,
            n.CONTAINS: lambda: operator.methodcaller("__contains__", lowered[0]),
            n.STARTS_WITH: lambda: operator.methodcaller("startswith", lowered[0]),
            n.ENDS_WITH: lambda: operator.methodcaller("endswith", lowered[0]),
            n.STARTS_WITH_ANY: lambda: operator.methodcaller("startswith", lowered),
            n.ENDS_WITH_ANY: lambda: operator.methodcaller("endswith", lowered),
            n.CONTAINS_ANY: lambda: lambda value: any(map(value.__contains__, lowered)),
        }
        return (checks[positive](), negate) if positive in checks else None
    if kind in (NUMBER, BOOL, CHOICE):
        if positive == n.IN:
            return frozenset(values).__contains__, negate
        if positive in REFLECTED:
            return partial(REFLECTED[positive], values[0]), negate
        if positive == n.BETWEEN:
            low, high = values
            return (lambda value: low <= value <= high), negate
    return None


def _fast_leaf(comparison: n.Comparison) -> Callable | None:
    """One closure per comparison for the shapes a fit rule set is made of: a plain person or account column,
    a custom text field, or a count, tested with a C-level check. None where the general path is needed."""
    operand = comparison.operand
    if comparison.operator in (n.IS_BLANK, n.IS_NOT_BLANK):
        return None
    found = _fast_check(comparison)
    if found is None:
        return None
    check, negate = found
    if isinstance(operand, n.CountOperand):
        key = operand.aggregate.key
        return lambda facts: check(facts.aggregates[key]) is not negate
    if not isinstance(operand, n.FieldOperand):
        return None
    item = operand.field
    column, json_key, kind = item.column, item.json_key, comparison.kind
    if item.scope not in (PERSON, ACCOUNT) or item.is_decimal or (json_key is not None and kind != TEXT):
        return None
    on_account = item.scope == ACCOUNT
    if json_key is not None:

        def custom_text(facts):
            row = (facts.account or EMPTY) if on_account else facts.person
            value = (row.get(column) or EMPTY).get(json_key)
            return type(value) is str and value != "" and check(value.lower()) is not negate

        return custom_text
    if kind == TEXT:
        if on_account:
            return lambda facts: (
                bool(value := (facts.account or EMPTY).get(column)) and check(value.lower()) is not negate
            )
        return lambda facts: bool(value := facts.person.get(column)) and check(value.lower()) is not negate
    if kind == CHOICE:
        if on_account:
            return lambda facts: bool(value := (facts.account or EMPTY).get(column)) and check(value) is not negate
        return lambda facts: bool(value := facts.person.get(column)) and check(value) is not negate
    if on_account:
        return lambda facts: (value := (facts.account or EMPTY).get(column)) is not None and check(value) is not negate
    return lambda facts: (value := facts.person.get(column)) is not None and check(value) is not negate


def compile_node(node: n.Node) -> Callable:
    """The tree as one function from facts to True/False."""
    if isinstance(node, n.Comparison):
        fast = _fast_leaf(node)
        if fast is not None:
            return fast
        get = value_getter(node)
        if node.operator == n.IS_BLANK:
            return lambda facts: get(facts) is None
        if node.operator == n.IS_NOT_BLANK:
            return lambda facts: get(facts) is not None
        test = value_test(node)

        def comparison(facts):
            value = get(facts)
            return value is not None and test(value)

        return comparison
    if isinstance(node, n.Negation):
        inner = compile_node(node.child)
        return lambda facts: not inner(facts)
    children = tuple(compile_node(child) for child in node.children)
    if isinstance(node, n.AllOf):
        if len(children) == 2:
            first, second = children
            return lambda facts: first(facts) and second(facts)

        def all_of(facts):
            for child in children:  # noqa: SIM110 - a plain loop is faster than all() over a generator
                if not child(facts):
                    return False
            return True

        return all_of
    if len(children) == 2:
        first, second = children
        return lambda facts: first(facts) or second(facts)

    def any_of(facts):
        for child in children:  # noqa: SIM110
            if child(facts):
                return True
        return False

    return any_of


def touchpoint_predicate(aggregate: n.Aggregate) -> Callable:
    """Whether a touchpoint record is of the aggregate's type and meets its `where`."""
    wanted = aggregate.touchpoint_type
    where = compile_node(aggregate.where) if aggregate.where is not None else None
    if where is None:
        return (lambda record: True) if wanted is None else (lambda record: record["type"] == wanted)
    if wanted is None:
        return where
    return lambda record: record["type"] == wanted and where(record)


# -- explanations ----------------------------------------------------------------------------------------
def _value_text(value) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return n.literal_text(value)


def explain_node(node: n.Node, facts, getters: dict) -> tuple[bool, str]:
    """Whether the node holds on the facts, and the facts that decided it in words."""
    if isinstance(node, n.Comparison):
        get = getters.get(node)
        if get is None:
            get = getters[node] = (value_getter(node), compile_node(node))
        value = get[0](facts)
        holds = get[1](facts)
        subject = node.operand.text()
        if node.operator in (n.IS_BLANK, n.IS_NOT_BLANK):
            return holds, f"{subject} is blank" if value is None else f"{subject} {_value_text(value)} is not blank"
        if value is None:
            return holds, f"{subject} is blank"
        unit = " days" if isinstance(node.operand, n.DaysSinceOperand) else ""
        shown = node.operator if holds else n.NEGATED[node.operator]
        if isinstance(node.operand, n.DaysSinceOperand):
            return holds, f"{subject} {value}{unit} {node.operator_text(shown)}"
        return holds, f"{subject} {_value_text(value)} {node.operator_text(shown)}"
    if isinstance(node, n.Negation):
        holds, text = explain_node(node.child, facts, getters)
        return not holds, text
    results = [explain_node(child, facts, getters) for child in node.children]

    def wrap(child, text):
        grouped = isinstance(child, n.AllOf | n.AnyOf) and (" and " in text or " or " in text)
        return f"({text})" if grouped else text

    if isinstance(node, n.AllOf):
        holds = all(result for result, _ in results)
        shown = [wrap(c, t) for c, (r, t) in zip(node.children, results, strict=True) if r == holds]
        return holds, " and ".join(shown)
    holds = any(result for result, _ in results)
    shown = [wrap(c, t) for c, (r, t) in zip(node.children, results, strict=True) if r == holds]
    return holds, (" or " if holds else " and ").join(shown)
