"""A parsed rule ready to run: from rule text, or from a structured {all/any/not} condition."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tandem.lib.rules import nodes as n
from tandem.lib.rules.catalogue import ACCOUNT, PERSON, Catalogue, default_catalogue
from tandem.lib.rules.errors import RuleError
from tandem.lib.rules.python import Facts, as_facts, compile_node, explain_node, value_getter
from tandem.lib.rules.syntax import MAX_DEPTH, parse_text

STRUCTURED_KEYS = ("all", "any", "not")


@dataclass(frozen=True, eq=False)
class Rule:
    """A rule parsed, type-checked and compiled.

    `aggregates` are the distinct touchpoint aggregates it needs (a bulk engine computes each once and
    passes their values in Facts.aggregates by key); `person_columns` and `account_columns` are the
    attribute names it reads from Facts.person and Facts.account.
    """

    source: str | Mapping
    node: n.Node
    aggregates: tuple[n.Aggregate, ...]
    test: Callable[[Facts], bool]

    @property
    def text(self) -> str:
        """The canonical text of the rule (one line, normalised spacing and quotes)."""
        return self.node.text()

    @property
    def person_columns(self) -> tuple[str, ...]:
        return self._columns(PERSON)

    @property
    def account_columns(self) -> tuple[str, ...]:
        return self._columns(ACCOUNT)

    def _columns(self, scope: str) -> tuple[str, ...]:
        found = []
        for node in n.walk(self.node):
            if isinstance(node, n.Comparison):
                operand = node.operand
                if isinstance(operand, n.DaysSinceOperand) and isinstance(operand.source, n.FieldOperand):
                    operand = operand.source
                if isinstance(operand, n.FieldOperand) and operand.field.scope == scope:
                    found.append(operand.field.column)
        return tuple(dict.fromkeys(found))

    def __str__(self) -> str:
        return self.text


def _parse_structured(condition, catalogue: Catalogue, path: str, aggregates: dict, depth: int) -> n.Node:
    if isinstance(condition, str):
        try:
            node, found = parse_text(condition, catalogue)
        except RuleError as error:
            raise error.at_path(path) if path else error from None
        for key, aggregate in found.items():
            aggregates.setdefault(key, aggregate)
        return node
    where = path
    if depth > MAX_DEPTH:
        raise RuleError(f"conditions are nested more than {MAX_DEPTH} deep", path=where)
    if not isinstance(condition, Mapping):
        kind = type(condition).__name__ if condition is not None else "nothing"
        raise RuleError(f"expected rule text or a mapping with all, any or not; found {kind}", path=where)
    if len(condition) != 1 or next(iter(condition)) not in STRUCTURED_KEYS:
        keys = ", ".join(str(key) for key in condition) or "no key"
        raise RuleError(f"expected exactly one of all, any, not; found {keys}", path=where)
    key, value = next(iter(condition.items()))
    if key == "not":
        return n.Negation(_parse_structured(value, catalogue, f"{path}.not" if path else "not", aggregates, depth + 1))
    if not isinstance(value, list) or not value:
        raise RuleError(f"{key} takes a non-empty list of conditions", path=f"{path}.{key}" if path else key)
    children = tuple(
        _parse_structured(
            item, catalogue, f"{path}.{key}[{index}]" if path else f"{key}[{index}]", aggregates, depth + 1
        )
        for index, item in enumerate(value)
    )
    return n.AllOf(children) if key == "all" else n.AnyOf(children)


def parse(condition: str | Mapping, *, catalogue: Catalogue | None = None) -> Rule:
    """Parse, type-check and compile a condition: rule text, or {all: [...]} / {any: [...]} / {not: ...}
    whose leaves are rule text. Raises RuleError naming the bad part, where it is and (for structured
    conditions) its path such as "any[2]"."""
    aggregates: dict[str, n.Aggregate] = {}
    node = _parse_structured(condition, catalogue or default_catalogue(), "", aggregates, 0)
    return Rule(source=condition, node=node, aggregates=tuple(aggregates.values()), test=compile_node(node))


def evaluate(rule: Rule, facts: Facts) -> bool:
    """Whether the rule holds on plain facts (Facts, or a mapping with its keys)."""
    return rule.test(as_facts(facts))


def explain(rule: Rule, facts: Facts) -> str:
    """In words, the facts that made the rule hold or fail, e.g. "fit_score 72 >= 60 and engagement_score 41 >= 40"."""
    return explain_node(rule.node, as_facts(facts), {})[1]


def _plain(value):
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)  # Decimal and anything else: its exact text


def evidence(rule: Rule, facts: Facts) -> dict:
    """JSON-ready evidence of a rule's outcome, to store with the change it made (StageChange.evidence):
    the rule's text, whether it held, why in words, and the value of every operand it read."""
    facts = as_facts(facts)
    holds, because = explain_node(rule.node, facts, {})
    values = {}
    for node in n.walk(rule.node):
        if isinstance(node, n.Comparison):
            values[node.operand.text()] = _plain(value_getter(node)(facts))
    return {"rule": rule.text, "matched": holds, "because": because, "values": values}
