"""The contract document: YAML in, a checked plain-data document out, every problem named by path and line.

A document has these sections (docs/contract.md describes each one):
glossary, lifecycle, icp, fit, engagement, combined, mql, rejection_reasons, routing, attribution, channels.
"""

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path as FilePath
from typing import Any

import yaml

DEFAULT_SOURCE_PATH = FilePath(__file__).with_name("default_contract.yaml")

SECTIONS = ("glossary", "lifecycle", "icp", "fit", "engagement", "combined", "mql", "rejection_reasons")
REQUIRED_SECTIONS = ("lifecycle", "fit", "engagement", "mql", "rejection_reasons")
OWNERS = ("marketing", "sales", "revops", "both")
STAGE_SIDES = ("marketing", "sales", "both")
TRANSITION_KINDS = ("forward", "recycle", "disqualify", "churn", "reopen")
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_SOURCE_CHARS = 200_000

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a document: where (path and line) and what."""

    path: str
    message: str
    line: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        where = f"line {self.line}, " if self.line else ""
        return f"{where}{self.path or 'document'}: {self.message}"


class ContractInvalid(ValueError):
    """A document that cannot be saved or published, with every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(str(problem) for problem in problems[:5]))


def path_text(path: Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


# A section check receives the section, its path and a `report(path, message)` callback; registered checks
# from other apps (the rule language, engagement scoring) refine what this module checks for structure.
SectionCheck = Callable[[Any, Path, Callable[[Path, str], None], dict], None]
_EXTRA_CHECKS: dict[str, list[SectionCheck]] = {}


def register_section_check(section: str, check: SectionCheck) -> None:
    """Add a check for one section; used by the apps that execute that section.

    A section that is not one of SECTIONS becomes an optional section of the document (e.g. `sla`).
    """
    _EXTRA_CHECKS.setdefault(section, []).append(check)


def default_source() -> str:
    """The YAML of the contract a new workspace starts with."""
    return DEFAULT_SOURCE_PATH.read_text(encoding="utf-8")


def parse_source(source: str) -> tuple[dict, list[Problem]]:
    """Parse and check a YAML document; returns (document, problems). The document is {} when it cannot be read."""
    if len(source) > MAX_SOURCE_CHARS:
        return {}, [Problem("", f"The document is {len(source):,} characters; the limit is {MAX_SOURCE_CHARS:,}.")]
    try:
        root = yaml.compose(source, Loader=yaml.SafeLoader)
        document = yaml.safe_load(source)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(error, "problem", None) or str(error)
        column = f" (column {mark.column + 1})" if mark is not None else ""
        return {}, [Problem("", f"The YAML does not parse: {reason}{column}.", line)]
    problems = check_document(document, root=root)
    return (document if isinstance(document, dict) else {}), problems


def check_document(document: Any, *, root: yaml.Node | None = None) -> list[Problem]:
    """Every problem of a parsed document, in document order."""
    found: list[tuple[Path, str]] = []

    def report(path: Path, message: str) -> None:
        found.append((path, message))

    if not isinstance(document, dict):
        report((), "The document must be a mapping of sections (glossary, lifecycle, fit, ...).")
    else:
        _check_sections(document, report)
    return [Problem(path_text(path), message, _line_of(root, path)) for path, message in found]


def _line_of(root: yaml.Node | None, path: Path) -> int | None:
    """The source line of the node at `path`, or of its nearest existing parent."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in path:
        child = None
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            child = next((value for key, value in node.value if getattr(key, "value", None) == part), None)
            if child is not None and not isinstance(child, yaml.MappingNode | yaml.SequenceNode):
                # Point at the key's line for scalars: that is where a reader looks.
                key_node = next(key for key, value in node.value if value is child)
                line = key_node.start_mark.line + 1
                node = child
                continue
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            child = node.value[part]
        if child is None:
            break
        node = child
        line = node.start_mark.line + 1
    return line


# ---------------------------------------------------------------- structure checks


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _text(value: Any, path: Path, report, *, required: bool = True, max_length: int = 2000) -> bool:
    if value is None or value == "":
        if required:
            report(path, "is required.")
        return False
    if not isinstance(value, str):
        report(path, f"expected text, got {type(value).__name__} {value!r}.")
        return False
    if len(value) > max_length:
        report(path, f"is {len(value)} characters; at most {max_length}.")
        return False
    return True


def _key(value: Any, path: Path, report) -> bool:
    if not isinstance(value, str) or not KEY_PATTERN.match(value):
        report(path, f"expected a key of lowercase letters, digits and _ (starting with a letter), got {value!r}.")
        return False
    return True


def _mapping(value: Any, path: Path, report, allowed: Iterable[str]) -> bool:
    allowed = tuple(allowed)
    if not isinstance(value, dict):
        report(path, f"expected a mapping with {', '.join(allowed)}.")
        return False
    for name in value:
        if name not in allowed:
            report((*path, str(name)), f"unknown entry; expected one of {', '.join(allowed)}.")
    return True


def _list(value: Any, path: Path, report, *, required: bool = True) -> bool:
    if value is None:
        if required:
            report(path, "is required (a list).")
        return False
    if not isinstance(value, list):
        report(path, "expected a list.")
        return False
    if required and not value:
        report(path, "must not be empty.")
        return False
    return True


def _integer_in(value: Any, path: Path, report, low: int, high: int) -> bool:
    if not _is_int(value) or not low <= value <= high:
        report(path, f"expected a whole number from {low} to {high}, got {value!r}.")
        return False
    return True


def check_condition_shape(value: Any, path: Path, report) -> None:
    """A condition is rule-language text, or {all: [...]}, {any: [...]} or {not: ...} of conditions."""
    if isinstance(value, str):
        if not value.strip():
            report(path, "a condition must not be empty.")
        return
    if isinstance(value, dict) and len(value) == 1:
        ((combinator, inner),) = value.items()
        if combinator in ("all", "any"):
            if _list(inner, (*path, combinator), report):
                for index, item in enumerate(inner):
                    check_condition_shape(item, (*path, combinator, index), report)
            return
        if combinator == "not":
            check_condition_shape(inner, (*path, "not"), report)
            return
    report(path, "expected a condition: rule text, or a mapping with one of all, any, not.")


def _check_sections(document: dict, report) -> None:
    known = (*SECTIONS, *(name for name in _EXTRA_CHECKS if name not in SECTIONS))
    for name in document:
        if name not in known:
            report((str(name),), f"unknown section; the sections are {', '.join(known)}.")
    for name in REQUIRED_SECTIONS:
        if name not in document:
            report((name,), "this section is required.")
    stage_keys = _check_lifecycle(document.get("lifecycle"), report) if "lifecycle" in document else {}
    if "glossary" in document:
        _check_glossary(document["glossary"], document, report)
    if "icp" in document:
        _check_icp(document["icp"], report)
    if "fit" in document:
        _check_fit(document["fit"], report)
    if "engagement" in document and not isinstance(document["engagement"], dict):
        report(("engagement",), "expected a mapping with decay, groups and rules.")
    if "combined" in document:
        _check_combined(document["combined"], report)
    if "mql" in document:
        _check_mql(document["mql"], stage_keys, report)
    if "rejection_reasons" in document:
        _check_rejection_reasons(document["rejection_reasons"], stage_keys, report)
    for section, checks in _EXTRA_CHECKS.items():
        if section in document:
            for check in checks:
                check(document[section], (section,), report, document)


def _check_glossary(glossary: Any, document: dict, report) -> None:
    if not _list(glossary, ("glossary",), report, required=False):
        return
    seen: set[str] = set()
    for index, entry in enumerate(glossary):
        path: Path = ("glossary", index)
        if not _mapping(entry, path, report, ("term", "definition", "owner", "rule")):
            continue
        if _text(entry.get("term"), (*path, "term"), report, max_length=80):
            term = entry["term"].strip().lower()
            if term in seen:
                report((*path, "term"), f"'{entry['term']}' is defined twice.")
            seen.add(term)
        _text(entry.get("definition"), (*path, "definition"), report)
        if entry.get("owner") not in OWNERS:
            report((*path, "owner"), f"expected one of {', '.join(OWNERS)}, got {entry.get('owner')!r}.")
        rule = entry.get("rule")
        if rule is not None and _text(rule, (*path, "rule"), report, max_length=120) and not _resolves(document, rule):
            report((*path, "rule"), f"'{rule}' does not name a part of this document.")


def _resolves(document: dict, rule: str) -> bool:
    """Whether a glossary rule path such as `mql` or `lifecycle.stages.sal` names something in the document."""
    node: Any = document
    for part in rule.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list):
            node = next((item for item in node if isinstance(item, dict) and item.get("key") == part), None)
            if node is None:
                return False
        else:
            return False
    return True


def _as_keys(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _check_lifecycle(lifecycle: Any, report) -> dict[str, dict]:
    """Check stages and transitions; returns the stages by key."""
    stages: dict[str, dict] = {}
    if not _mapping(lifecycle, ("lifecycle",), report, ("stages", "transitions")):
        return stages
    stage_list = lifecycle.get("stages")
    if _list(stage_list, ("lifecycle", "stages"), report):
        allowed = ("key", "name", "side", "side_stage", "lead_status_on_entry", "entry_criteria")
        for index, stage in enumerate(stage_list):
            path: Path = ("lifecycle", "stages", index)
            if not _mapping(stage, path, report, allowed):
                continue
            if _key(stage.get("key"), (*path, "key"), report):
                if stage["key"] in stages:
                    report((*path, "key"), f"stage '{stage['key']}' is defined twice.")
                stages[stage["key"]] = stage
            _text(stage.get("name"), (*path, "name"), report, max_length=80)
            if stage.get("side", "both") not in STAGE_SIDES:
                report((*path, "side"), f"expected one of {', '.join(STAGE_SIDES)}, got {stage.get('side')!r}.")
            if not isinstance(stage.get("side_stage", False), bool):
                report((*path, "side_stage"), "expected true or false.")
            status = stage.get("lead_status_on_entry")
            if status is not None:
                _key(status, (*path, "lead_status_on_entry"), report)
            _text(stage.get("entry_criteria"), (*path, "entry_criteria"), report, required=False)
        if stages and "mql" not in stages:
            report(("lifecycle", "stages"), "the lifecycle needs an 'mql' stage: the MQL rule moves people into it.")
    transitions = lifecycle.get("transitions")
    if not _list(transitions, ("lifecycle", "transitions"), report):
        return stages
    forward: dict[str, set[str]] = {}
    seen: dict[tuple[str, str], int] = {}
    for index, transition in enumerate(transitions):
        path = ("lifecycle", "transitions", index)
        if not _mapping(transition, path, report, ("from", "to", "kind")):
            continue
        kind = transition.get("kind")
        if kind not in TRANSITION_KINDS:
            report((*path, "kind"), f"expected one of {', '.join(TRANSITION_KINDS)}, got {kind!r}.")
        ends = {}
        for end in ("from", "to"):
            keys = _as_keys(transition.get(end))
            if transition.get(end) is None or not keys:
                report((*path, end), "is required: a stage key or a list of them.")
                keys = []
            for key in keys:
                if stages and key not in stages:
                    report((*path, end), f"unknown stage '{key}'; the stages are {', '.join(stages)}.")
            ends[end] = [key for key in keys if isinstance(key, str)]
        for source in ends["from"]:
            for target in ends["to"]:
                if source == target:
                    report(path, f"a stage cannot move to itself ('{source}').")
                    continue
                if (source, target) in seen:
                    report(path, f"{source} → {target} is already allowed by transitions[{seen[(source, target)]}].")
                    continue
                seen[(source, target)] = index
                if kind == "forward":
                    forward.setdefault(source, set()).add(target)
    cycle = _find_cycle(forward)
    if cycle:
        report(
            ("lifecycle", "transitions"),
            f"forward moves go round in a circle: {' → '.join(cycle)}; forward must lead onward "
            "(use recycle or reopen for moves back).",
        )
    return stages


def _find_cycle(edges: dict[str, set[str]]) -> list[str]:
    """One cycle of the directed graph, as the list of its stages (first repeated at the end), or []."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for following in sorted(edges.get(node, ())):
            if state.get(following) == 1:
                return [*stack[stack.index(following) :], following]
            if following not in state:
                found = visit(following)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return []

    for start in sorted(edges):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return []


def _check_icp(icp: Any, report) -> None:
    if not _mapping(icp, ("icp",), report, ("description", "tiers")):
        return
    _text(icp.get("description"), ("icp", "description"), report, required=False)
    tiers = icp.get("tiers")
    if not _list(tiers, ("icp", "tiers"), report, required=False):
        return
    seen: set[int] = set()
    for index, tier in enumerate(tiers):
        path: Path = ("icp", "tiers", index)
        if not _mapping(tier, path, report, ("tier", "when")):
            continue
        if _integer_in(tier.get("tier"), (*path, "tier"), report, 1, 9):
            if tier["tier"] in seen:
                report((*path, "tier"), f"tier {tier['tier']} is defined twice.")
            seen.add(tier["tier"])
        check_condition_shape(tier.get("when"), (*path, "when"), report)


def _check_fit(fit: Any, report) -> None:
    if not _mapping(fit, ("fit",), report, ("rules",)):
        return
    rules = fit.get("rules")
    if not _list(rules, ("fit", "rules"), report):
        return
    names: set[str] = set()
    for index, rule in enumerate(rules):
        path: Path = ("fit", "rules", index)
        if not _mapping(rule, path, report, ("name", "when", "points")):
            continue
        if _text(rule.get("name"), (*path, "name"), report, max_length=80):
            if rule["name"] in names:
                report((*path, "name"), f"'{rule['name']}' is used by two rules; names must be unique.")
            names.add(rule["name"])
        check_condition_shape(rule.get("when"), (*path, "when"), report)
        _integer_in(rule.get("points"), (*path, "points"), report, -100, 100)


def _check_combined(combined: Any, report) -> None:
    if not _mapping(combined, ("combined",), report, ("fit_weight", "engagement_weight")):
        return
    weights = []
    for name in ("fit_weight", "engagement_weight"):
        value = combined.get(name)
        if not _is_number(value) or not 0 <= value <= 1:
            report(("combined", name), f"expected a number from 0 to 1, got {value!r}.")
        else:
            weights.append(value)
    if len(weights) == 2 and abs(sum(weights) - 1) > 1e-9:
        report(("combined",), f"fit_weight and engagement_weight must add up to 1; they add up to {sum(weights):g}.")


def _check_mql(mql: Any, stages: dict[str, dict], report) -> None:
    allowed = (
        "fit_score_at_least",
        "engagement_score_at_least",
        "from_stages",
        "when",
        "segments",
        "recycled_cooling_off_days",
    )
    if not _mapping(mql, ("mql",), report, allowed):
        return
    if "recycled_cooling_off_days" in mql:
        _integer_in(mql["recycled_cooling_off_days"], ("mql", "recycled_cooling_off_days"), report, 0, 3650)
    for name in ("fit_score_at_least", "engagement_score_at_least"):
        _integer_in(mql.get(name), ("mql", name), report, 0, 100)
    from_stages = mql.get("from_stages")
    if _list(from_stages, ("mql", "from_stages"), report):
        for index, key in enumerate(from_stages):
            if stages and key not in stages:
                report(("mql", "from_stages", index), f"unknown stage {key!r}; the stages are {', '.join(stages)}.")
            elif key == "mql":
                report(("mql", "from_stages", index), "people already in MQL cannot qualify again.")
    if "when" in mql:
        check_condition_shape(mql["when"], ("mql", "when"), report)
    segments = mql.get("segments")
    if _list(segments, ("mql", "segments"), report, required=False):
        names: set[str] = set()
        for index, segment in enumerate(segments):
            path: Path = ("mql", "segments", index)
            if not _mapping(segment, path, report, ("name", "when", "fit_score_at_least", "engagement_score_at_least")):
                continue
            if _text(segment.get("name"), (*path, "name"), report, max_length=80):
                if segment["name"] in names:
                    report((*path, "name"), f"'{segment['name']}' is used by two segments.")
                names.add(segment["name"])
            check_condition_shape(segment.get("when"), (*path, "when"), report)
            for name in ("fit_score_at_least", "engagement_score_at_least"):
                _integer_in(segment.get(name), (*path, name), report, 0, 100)


def _check_rejection_reasons(reasons: Any, stages: dict[str, dict], report) -> None:
    if not _list(reasons, ("rejection_reasons",), report):
        return
    keys: set[str] = set()
    for index, reason in enumerate(reasons):
        path: Path = ("rejection_reasons", index)
        if not _mapping(reason, path, report, ("key", "label", "outcome")):
            continue
        if _key(reason.get("key"), (*path, "key"), report):
            if reason["key"] in keys:
                report((*path, "key"), f"'{reason['key']}' is defined twice.")
            keys.add(reason["key"])
        _text(reason.get("label"), (*path, "label"), report, max_length=80)
        outcome = reason.get("outcome")
        side_stages = [key for key, stage in stages.items() if stage.get("side_stage")]
        if stages and outcome not in side_stages:
            report(
                (*path, "outcome"),
                f"expected the side stage a rejected person goes to ({', '.join(side_stages)}), got {outcome!r}.",
            )


# ---------------------------------------------------------------- reading and comparing documents


def source_diff(old: str, new: str, *, old_label: str, new_label: str) -> list[tuple[str, str]]:
    """Line diff of two sources as (kind, line) pairs; kind is one of ' ', '+', '-', '@'."""
    lines = []
    for line in difflib.unified_diff(
        old.splitlines(), new.splitlines(), fromfile=old_label, tofile=new_label, lineterm="", n=3
    ):
        if line.startswith(("---", "+++")):
            continue
        kind = line[0] if line[:1] in ("+", "-", " ", "@") else " "
        lines.append((kind, line[1:] if kind != "@" else line))
    return lines


def changed_paths(old: Any, new: Any, path: Path = ()) -> list[tuple[str, Any, Any]]:
    """What changed between two documents, as (path, before, after), lists of keyed items compared by key."""
    if isinstance(old, dict) and isinstance(new, dict):
        changes = []
        for name in list(old) + [name for name in new if name not in old]:
            changes += changed_paths(old.get(name), new.get(name), (*path, name))
        return changes
    if isinstance(old, list) and isinstance(new, list) and _keyed(old) and _keyed(new):
        old_items, new_items = _by_key(old), _by_key(new)
        changes = []
        for key in list(old_items) + [key for key in new_items if key not in old_items]:
            changes += changed_paths(old_items.get(key), new_items.get(key), (*path, key))
        return changes
    if old != new:
        return [(path_text(path), old, new)]
    return []


def _item_key(item: Any) -> str | None:
    if isinstance(item, dict):
        for name in ("key", "name", "term", "tier"):
            if isinstance(item.get(name), str | int):
                return str(item[name])
    return None


def _keyed(items: list) -> bool:
    keys = [_item_key(item) for item in items]
    return all(key is not None for key in keys) and len(set(keys)) == len(keys)


def _by_key(items: list) -> dict[str, Any]:
    return {str(_item_key(item)): item for item in items}
