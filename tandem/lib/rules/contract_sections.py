"""Checks of the conditions in a contract document: every `when` of the icp, fit and mql sections is parsed
and type-checked against the fields, with the lifecycle stages the document itself defines.

The contract app registers these with its document checks; the problems land beside its own, at the
condition's path and line. The shape of a condition (text or all/any/not) is the contract's own check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tandem.lib.rules.catalogue import Catalogue, default_catalogue
from tandem.lib.rules.errors import RuleError
from tandem.lib.rules.rule import parse
from tandem.lib.rules.syntax import parse_text

Path = tuple[str | int, ...]
Report = Callable[[Path, str], None]


def document_catalogue(document: dict) -> Catalogue:
    """The catalogue with the lifecycle stages the document defines (the default ones if it defines none)."""
    stages = (document.get("lifecycle") or {}).get("stages") if isinstance(document.get("lifecycle"), dict) else None
    choices = [
        (stage["key"], str(stage.get("name") or stage["key"]))
        for stage in stages or []
        if isinstance(stage, dict) and isinstance(stage.get("key"), str)
    ]
    catalogue = default_catalogue()
    return catalogue.with_choices("lifecycle_stage", choices) if choices else catalogue


def check_condition(condition: Any, path: Path, report: Report, catalogue: Catalogue) -> None:
    """Report every rule text in a condition that does not parse, at its own path."""
    if isinstance(condition, str):
        if not condition.strip():
            return  # the contract reports empty conditions
        try:
            parse_text(condition, catalogue)
        except RuleError as error:
            where = (
                f"line {error.line}, column {error.column}" if "\n" in condition.strip() else f"column {error.column}"
            )
            report(path, f"{error.message} ({where} of the condition).")
        return
    if isinstance(condition, dict) and len(condition) == 1:
        ((combinator, inner),) = condition.items()
        if combinator in ("all", "any") and isinstance(inner, list):
            for index, item in enumerate(inner):
                check_condition(item, (*path, combinator, index), report, catalogue)
        elif combinator == "not":
            check_condition(inner, (*path, "not"), report, catalogue)


def _entries(section: Any, key: str) -> list[tuple[int, dict]]:
    items = section.get(key) if isinstance(section, dict) else None
    return [(index, item) for index, item in enumerate(items or []) if isinstance(item, dict)]


def check_icp(section: Any, path: Path, report: Report, document: dict) -> None:
    catalogue = document_catalogue(document)
    for index, tier in _entries(section, "tiers"):
        if "when" not in tier:
            continue
        where = (*path, "tiers", index, "when")
        problems: list[tuple[Path, str]] = []
        check_condition(tier["when"], where, lambda at, message, found=problems: found.append((at, message)), catalogue)
        for at, message in problems:
            report(at, message)
        if not problems and isinstance(tier["when"], str | dict):
            _check_account_only(tier["when"], where, report, catalogue)


def _check_account_only(condition: Any, path: Path, report: Report, catalogue: Catalogue) -> None:
    """A tier belongs to the account, so its condition may read only account fields."""
    try:
        rule = parse(condition, catalogue=catalogue)
    except RuleError:
        return
    if rule.aggregates:
        report(path, "an ICP tier is a property of the account; it cannot count touchpoints.")
    elif rule.person_columns:
        names = ", ".join(rule.person_columns)
        report(path, f"an ICP tier is a property of the account; it can read only account.* fields, not {names}.")


def check_fit(section: Any, path: Path, report: Report, document: dict) -> None:
    catalogue = document_catalogue(document)
    for index, rule in _entries(section, "rules"):
        if "when" in rule:
            check_condition(rule["when"], (*path, "rules", index, "when"), report, catalogue)


def check_mql(section: Any, path: Path, report: Report, document: dict) -> None:
    catalogue = document_catalogue(document)
    if isinstance(section, dict) and "when" in section:
        check_condition(section["when"], (*path, "when"), report, catalogue)
    for index, segment in _entries(section, "segments"):
        if "when" in segment:
            check_condition(segment["when"], (*path, "segments", index, "when"), report, catalogue)


SECTION_CHECKS = {"icp": check_icp, "fit": check_fit, "mql": check_mql}
