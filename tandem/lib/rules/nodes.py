"""The parsed form of a rule: a tree of all/any/not over comparisons, each rendering its canonical text."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from tandem.lib.rules.catalogue import Field

EQ, NE, LT, LE, GT, GE = "=", "!=", "<", "<=", ">", ">="
IN, NOT_IN, BETWEEN = "in", "not in", "between"
CONTAINS, STARTS_WITH, ENDS_WITH = "contains", "starts with", "ends with"
CONTAINS_ANY, STARTS_WITH_ANY, ENDS_WITH_ANY = "contains any", "starts with any", "ends with any"
IS_BLANK, IS_NOT_BLANK = "is blank", "is not blank"
ORDERING = (LT, LE, GT, GE)
TEXT_MATCHES = {CONTAINS: CONTAINS, STARTS_WITH: STARTS_WITH, ENDS_WITH: ENDS_WITH}
ANY_MATCHES = {CONTAINS_ANY: CONTAINS, STARTS_WITH_ANY: STARTS_WITH, ENDS_WITH_ANY: ENDS_WITH}
# How a comparison that did not hold is told: "fit_score 52 < 60" rather than "not fit_score 52 >= 60".
NEGATED = {
    EQ: NE,
    NE: EQ,
    LT: GE,
    LE: GT,
    GT: LE,
    GE: LT,
    IN: NOT_IN,
    NOT_IN: IN,
    BETWEEN: "not between",
    CONTAINS: "does not contain",
    STARTS_WITH: "does not start with",
    ENDS_WITH: "does not end with",
    CONTAINS_ANY: "contains none of",
    STARTS_WITH_ANY: "starts with none of",
    ENDS_WITH_ANY: "ends with none of",
    IS_BLANK: IS_NOT_BLANK,
    IS_NOT_BLANK: IS_BLANK,
}


def literal_text(value) -> str:
    """A value as a rule writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dt.date):
        return f'"{value.isoformat()}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(literal_text(item) for item in value) + "]"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class Node:
    """A condition: a comparison, or all/any/not over conditions."""

    def text(self) -> str:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.text()


@dataclass(frozen=True, eq=False)
class AllOf(Node):
    children: tuple[Node, ...]

    def text(self) -> str:
        return " and ".join(
            f"({child.text()})" if isinstance(child, AnyOf) else child.text() for child in self.children
        )


@dataclass(frozen=True, eq=False)
class AnyOf(Node):
    children: tuple[Node, ...]

    def text(self) -> str:
        return " or ".join(f"({child.text()})" if isinstance(child, AllOf) else child.text() for child in self.children)


@dataclass(frozen=True, eq=False)
class Negation(Node):
    child: Node

    def text(self) -> str:
        return f"not ({self.child.text()})"


@dataclass(frozen=True, eq=False)
class FieldOperand:
    """A person, account or touchpoint field, or a key of a custom field / touchpoint property."""

    field: Field

    def text(self) -> str:
        return self.field.name


@dataclass(frozen=True, eq=False)
class Aggregate:
    """A touchpoint aggregate a rule needs: how many (count) or the latest (last) of a type over a window.

    Its `key` (canonical text) names it in plain facts, so rules that share an aggregate share its value.
    """

    function: str  # "count" or "last"
    touchpoint_type: str | None  # None counts any type
    where: Node | None = None
    window: dt.timedelta | None = None  # None: all touchpoints up to as_of
    window_text: str = ""
    key: str = field(default="", compare=False)

    def text(self) -> str:
        inside = self.touchpoint_type or "any"
        if self.where is not None:
            inside += f" where {self.where.text()}"
        if self.window is not None:
            inside += f", last {self.window_text}"
        return f"{self.function}({inside})"

    def matches(self, record) -> bool:
        """Whether one touchpoint record (a mapping of touchpoint fields) is of this type and meets `where`."""
        return self._predicate(record)

    @property
    def _predicate(self):
        from tandem.lib.rules.python import touchpoint_predicate

        predicate = self.__dict__.get("_compiled")
        if predicate is None:
            predicate = touchpoint_predicate(self)
            object.__setattr__(self, "_compiled", predicate)
        return predicate

    def evaluate(self, records, as_of: dt.datetime):
        """The aggregate's value over plain touchpoint records: a count, or the latest occurred_at (None if none)."""
        start = as_of - self.window if self.window is not None else None
        predicate = self._predicate
        if self.function == "count":
            count = 0
            for record in records:
                occurred_at = record["occurred_at"]
                if occurred_at <= as_of and (start is None or occurred_at >= start) and predicate(record):
                    count += 1
            return count
        latest = None
        for record in records:
            occurred_at = record["occurred_at"]
            if occurred_at <= as_of and (start is None or occurred_at >= start) and predicate(record):
                latest = occurred_at if latest is None or occurred_at > latest else latest
        return latest


@dataclass(frozen=True, eq=False)
class CountOperand:
    aggregate: Aggregate

    def text(self) -> str:
        return self.aggregate.key


@dataclass(frozen=True, eq=False)
class DaysSinceOperand:
    """Whole days from a date field or from the latest matching touchpoint (`last(...)`) until as_of."""

    source: FieldOperand | Aggregate

    def text(self) -> str:
        inner = self.source.key if isinstance(self.source, Aggregate) else self.source.text()
        return f"days since {inner}"


@dataclass(frozen=True, eq=False)
class Comparison(Node):
    """One test of an operand: `kind` is how values compare (text, number, bool, choice, date, any)."""

    operand: FieldOperand | CountOperand | DaysSinceOperand
    operator: str
    values: tuple = ()
    kind: str = ""
    start: int = 0
    end: int = 0

    def text(self) -> str:
        return f"{self.operand.text()} {self.operator_text()}"

    def operator_text(self, operator: str | None = None) -> str:
        operator = operator or self.operator
        if operator in (IS_BLANK, IS_NOT_BLANK):
            return operator
        if operator in (BETWEEN, "not between"):
            return f"{operator} {literal_text(self.values[0])} and {literal_text(self.values[1])}"
        if operator in (IN, NOT_IN) or operator in ANY_MATCHES or operator.endswith(" none of"):
            return f"{operator} {literal_text(list(self.values))}"
        return f"{operator} {literal_text(self.values[0])}"


def walk(node: Node):
    """Every node of a tree, parents first."""
    yield node
    if isinstance(node, AllOf | AnyOf):
        for child in node.children:
            yield from walk(child)
    elif isinstance(node, Negation):
        yield from walk(node.child)
