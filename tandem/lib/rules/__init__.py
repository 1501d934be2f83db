"""The rule language of the revenue contract: conditions on people, accounts, custom fields and touchpoint
aggregates, parsed without eval, type-checked against the field catalogue, evaluated in Python on plain
facts or in the database as a Q. See docs/rules.md.

    rule = parse('account.industry in ["Software"] and count(form_submit, last 30 days) >= 1')
    evaluate(rule, facts)            # True/False on plain data
    explain(rule, facts)             # 'account.industry "Software" in ["Software"] and ...'
    evidence(rule, facts)            # the same with every value read, JSON-ready for StageChange.evidence
    Person.objects.filter(to_q(rule, as_of=now))
"""

from tandem.lib.rules.catalogue import Catalogue, Field, build_catalogue, catalogue_from_database, default_catalogue
from tandem.lib.rules.errors import RuleError
from tandem.lib.rules.fit import FitRule, FitRules, fit_rules_parse, fit_score
from tandem.lib.rules.nodes import Aggregate
from tandem.lib.rules.python import Facts
from tandem.lib.rules.rule import Rule, evaluate, evidence, explain, parse


def to_q(rule, *, as_of=None):
    """A Q on Person for the people the rule matches at as_of (see tandem.lib.rules.orm)."""
    from tandem.lib.rules.orm import to_q as build

    return build(rule, as_of=as_of)


def facts_for_people(rules, *, as_of, people=None, chunk_size=10_000):
    """(person id, Facts) for everyone, set-based (see tandem.lib.rules.records)."""
    from tandem.lib.rules.records import facts_for_people as build

    return build(rules, as_of=as_of, people=people, chunk_size=chunk_size)


def aggregate_values(aggregates, *, as_of):
    """Everyone's value of each aggregate, one grouped query each (see tandem.lib.rules.records)."""
    from tandem.lib.rules.records import aggregate_values as build

    return build(aggregates, as_of=as_of)


def facts_for_person(person, rules, *, as_of):
    """Facts for one person (see tandem.lib.rules.records)."""
    from tandem.lib.rules.records import facts_for_person as build

    return build(person, rules, as_of=as_of)


__all__ = [
    "Aggregate",
    "Catalogue",
    "Facts",
    "Field",
    "FitRule",
    "FitRules",
    "Rule",
    "RuleError",
    "aggregate_values",
    "build_catalogue",
    "catalogue_from_database",
    "default_catalogue",
    "evaluate",
    "evidence",
    "explain",
    "facts_for_people",
    "facts_for_person",
    "fit_rules_parse",
    "fit_score",
    "parse",
    "to_q",
]
