"""The contract's engagement section checked by the scoring engine that executes it."""

import re
from typing import Any

from tandem.scoring.rules import ScoringRulesError, engagement_rules_parse

_PATH_PART = re.compile(r"\[(\d+)\]|\.?([^.\[\]]+)")


def path_parts(text: str) -> tuple:
    """'engagement.rules[3].points' -> ('engagement', 'rules', 3, 'points')."""
    return tuple(int(index) if index else name for index, name in _PATH_PART.findall(text))


def check_engagement(section: Any, path: tuple, report, document: dict) -> None:
    """Report every problem engagement_rules_parse finds, at its path; the contract checks the shape."""
    if not isinstance(section, dict):
        return
    try:
        engagement_rules_parse(section)
    except ScoringRulesError as error:
        for text, message in error.errors:
            report(path_parts(text), message)
