"""Fit scoring on rules: each rule that holds gives its points (negative points take away); the sum is
clamped to 0..100, and the rules that gave points are the score's ledger."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tandem.lib.rules import nodes as n
from tandem.lib.rules.catalogue import Catalogue
from tandem.lib.rules.errors import RuleError
from tandem.lib.rules.python import Facts, as_facts
from tandem.lib.rules.rule import Rule, parse

MIN_POINTS, MAX_POINTS = -100, 100
MAX_SCORE = 100
FIT_RULE_KEYS = ("name", "when", "points")


@dataclass(frozen=True)
class FitRule:
    """One fit rule: when its condition holds, the person gets its points."""

    name: str
    when: Rule
    points: int


@dataclass(frozen=True)
class FitRules:
    """A validated list of fit rules and the aggregates they need between them."""

    rules: tuple[FitRule, ...]

    @property
    def aggregates(self) -> tuple[n.Aggregate, ...]:
        found: dict[str, n.Aggregate] = {}
        for rule in self.rules:
            for aggregate in rule.when.aggregates:
                found.setdefault(aggregate.key, aggregate)
        return tuple(found.values())

    @property
    def person_columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(column for rule in self.rules for column in rule.when.person_columns))

    @property
    def account_columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(column for rule in self.rules for column in rule.when.account_columns))

    def __post_init__(self):
        # (name, test, points) triples: the loop in fit_score reads nothing else.
        object.__setattr__(self, "_compiled", tuple((rule.name, rule.when.test, rule.points) for rule in self.rules))


def fit_rules_parse(items: Sequence, *, catalogue: Catalogue | None = None, path: str = "fit.rules") -> FitRules:
    """Validate a list of {name, when, points}: names unique, points integers in -100..100, conditions valid.
    Errors name the rule by index and name, e.g. 'fit.rules[2] "Big company".points: ...'."""
    if not isinstance(items, list | tuple):
        raise RuleError(f"expected a list of rules with name, when and points; found {type(items).__name__}", path=path)
    rules, seen = [], {}
    for index, item in enumerate(items):
        where = f"{path}[{index}]"
        if not isinstance(item, Mapping):
            raise RuleError(f"expected a mapping with name, when and points; found {type(item).__name__}", path=where)
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise RuleError("every rule needs a name (non-empty text)", path=f"{where}.name")
        name = name.strip()
        where = f'{where} "{name}"'
        unknown = [str(key) for key in item if key not in FIT_RULE_KEYS]
        if unknown:
            raise RuleError(f"unknown key {', '.join(unknown)}; a fit rule has name, when and points", path=where)
        if name.lower() in seen:
            raise RuleError(f"the name is already used by {path}[{seen[name.lower()]}]", path=f"{where}.name")
        seen[name.lower()] = index
        points = item.get("points")
        if isinstance(points, bool) or not isinstance(points, int) or not MIN_POINTS <= points <= MAX_POINTS:
            raise RuleError(
                f"expected an integer between {MIN_POINTS} and {MAX_POINTS}, found {points!r}", path=f"{where}.points"
            )
        if "when" not in item:
            raise RuleError("every rule needs a condition", path=f"{where}.when")
        try:
            when = parse(item["when"], catalogue=catalogue)
        except RuleError as error:
            raise error.at_path(f"{where}.when") from None
        rules.append(FitRule(name=name, when=when, points=points))
    return FitRules(tuple(rules))


def fit_score(rules: FitRules | Sequence, facts: Facts) -> tuple[int, list[tuple[str, int]]]:
    """The fit score 0..100 on plain facts and the (rule name, points) of every rule that gave points."""
    if not isinstance(rules, FitRules):
        rules = fit_rules_parse(rules)
    if type(facts) is not Facts:
        facts = as_facts(facts)
    total = 0
    given = []
    for name, test, points in rules._compiled:
        if test(facts):
            total += points
            given.append((name, points))
    return (0 if total < 0 else MAX_SCORE if total > MAX_SCORE else total), given
