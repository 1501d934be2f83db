"""The engagement and combined sections of the revenue contract, parsed into plain dataclasses.

`engagement_rules_parse(section)` checks every value and raises `ScoringRulesError` listing each
problem with its path ("engagement.rules[3].points: expected an integer between -100 and 100"), so
a contract author sees all of them at once. docs/scoring.md describes the shape.
"""

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from tandem.engagement.models import TouchpointType

POINTS_LIMIT = 100
CAP_LIMIT = 1000
MAX_RULES = 500
MAX_DAYS = 3650
NAME_LENGTH = 100
URL_PATTERN_LENGTH = 500
TOUCHPOINT_TYPES = tuple(TouchpointType.values)

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """Lower-case ASCII letters only, as PostgreSQL's lower() does under the "C" collation."""
    return text.translate(_ASCII_LOWER)


class ScoringRulesError(ValueError):
    """A contract section that cannot be executed; `errors` holds (path, message) pairs."""

    def __init__(self, errors: list[tuple[str, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{path}: {message}" for path, message in errors))


@dataclass(frozen=True)
class UrlPattern:
    """A glob over the whole URL: `*` is any run of characters, `?` one character; ASCII case ignored."""

    glob: str
    regex: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        parts = [".*" if char == "*" else "." if char == "?" else re.escape(char) for char in ascii_lower(self.glob)]
        object.__setattr__(self, "regex", re.compile("".join(parts), re.DOTALL))

    def matches(self, url: str) -> bool:
        return self.regex.fullmatch(ascii_lower(url)) is not None

    def like_pattern(self) -> str:
        """The same pattern for SQL LIKE with the default backslash escape, to compare with ascii-lowered URLs."""
        out = []
        for char in ascii_lower(self.glob):
            if char == "*":
                out.append("%")
            elif char == "?":
                out.append("_")
            elif char in "%_\\":
                out.append("\\" + char)
            else:
                out.append(char)
        return "".join(out)


@dataclass(frozen=True)
class EngagementRule:
    """Points for every touchpoint of one type that matches the optional URL, campaign and properties."""

    name: str
    touchpoint: str
    points: int
    url: UrlPattern | None = None
    campaign: str = ""
    properties: tuple[tuple[str, str | int | bool], ...] = ()
    cap: int | None = None
    group: str = ""

    def matches(self, *, touchpoint_type: str, url: str, campaign: str, properties) -> bool:
        """Whether one touchpoint earns this rule's points (the pure engine's matching)."""
        if touchpoint_type != self.touchpoint:
            return False
        if self.url is not None and not self.url.matches(url or ""):
            return False
        return self.matches_campaign_and_properties(campaign, properties)

    def matches_campaign_and_properties(self, campaign: str, properties) -> bool:
        if self.campaign and not campaign_name_matches(self.campaign, campaign):
            return False
        return all(property_matches(properties, key, value) for key, value in self.properties)


@dataclass(frozen=True)
class ScoreGroup:
    """Rules that share one cap on the positive points they give together."""

    name: str
    cap: int


@dataclass(frozen=True)
class Decay:
    """How points lose value: halve every `half_life_days`, or count fully for `window_days` then vanish."""

    half_life_days: float | None = None
    window_days: int | None = None

    def factor(self, age_days: float) -> float:
        """The share of its points a line keeps after `age_days` (the engine uses the same arithmetic)."""
        if self.half_life_days is not None:
            return 0.5 ** (age_days / self.half_life_days)
        if self.window_days is not None:
            return 1.0 if age_days <= self.window_days else 0.0
        return 1.0

    def describe(self) -> str:
        if self.half_life_days is not None:
            return f"halves every {self.half_life_days:g} days"
        if self.window_days is not None:
            return f"counts for {self.window_days} days"
        return "does not decay"


@dataclass(frozen=True)
class EngagementRules:
    """The executable engagement section: decay, groups and rules in contract order."""

    rules: tuple[EngagementRule, ...]
    groups: tuple[ScoreGroup, ...] = ()
    decay: Decay = Decay()

    def group_cap(self, name: str) -> int | None:
        for group in self.groups:
            if group.name == name:
                return group.cap
        return None


@dataclass(frozen=True)
class CombinedWeights:
    """combined score = round(fit_weight * fit + engagement_weight * engagement), weights summing to 1."""

    fit_weight: float = 0.5
    engagement_weight: float = 0.5

    def score(self, *, fit: int, engagement: int) -> int:
        return round_half_up(self.fit_weight * fit + self.engagement_weight * engagement)


def round_half_up(value: float) -> int:
    """41.5 -> 42 (Python's round() would give 42 but 40.5 -> 40; scores round half up)."""
    return math.floor(value + 0.5)


def campaign_name_matches(rule_campaign: str, campaign_name: str) -> bool:
    """Campaign names compare whole, ignoring ASCII case and surrounding spaces."""
    return ascii_lower(rule_campaign.strip()) == ascii_lower((campaign_name or "").strip())


def property_matches(properties, key: str, expected) -> bool:
    """JSON equality of one property: a string equals a string, a number a number, a boolean a boolean."""
    if not isinstance(properties, Mapping) or key not in properties:
        return False
    actual = properties[key]
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and actual == expected
    if isinstance(expected, int):
        return isinstance(actual, int | float) and actual == expected
    return isinstance(actual, str) and actual == expected


class _Collector:
    def __init__(self):
        self.errors: list[tuple[str, str]] = []

    def add(self, path: str, message: str) -> None:
        self.errors.append((path, message))

    def mapping(self, value, path: str, allowed: tuple[str, ...]) -> dict | None:
        if not isinstance(value, Mapping):
            self.add(path, f"expected a mapping with keys {', '.join(allowed)}")
            return None
        for key in value:
            if key not in allowed:
                self.add(f"{path}.{key}", f"unknown key; expected one of {', '.join(allowed)}")
        return dict(value)

    def integer(self, value, path: str, low: int, high: int):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.add(path, f"expected an integer between {low} and {high}")
            return None
        return value

    def name(self, value, path: str, seen: set[str]):
        if not isinstance(value, str) or not value.strip() or len(value) > NAME_LENGTH:
            self.add(path, f"expected a name of 1 to {NAME_LENGTH} characters")
            return None
        if value in seen:
            self.add(path, f"'{value}' is used twice; names must be unique")
            return None
        seen.add(value)
        return value


RULE_KEYS = ("name", "touchpoint", "points", "url", "campaign", "properties", "cap", "group")


def _parse_rule(raw, path: str, collector: _Collector, names: set[str], groups: set[str]):
    data = collector.mapping(raw, path, RULE_KEYS)
    if data is None:
        return None
    errors_before = len(collector.errors)
    for key in ("name", "touchpoint", "points"):
        if key not in data:
            collector.add(f"{path}.{key}", "required")
    name = collector.name(data["name"], f"{path}.name", names) if "name" in data else None
    touchpoint = data.get("touchpoint")
    if "touchpoint" in data and touchpoint not in TOUCHPOINT_TYPES:
        collector.add(f"{path}.touchpoint", f"expected one of {', '.join(TOUCHPOINT_TYPES)}")
    points = collector.integer(data["points"], f"{path}.points", -POINTS_LIMIT, POINTS_LIMIT) if "points" in data else 0
    url = None
    if data.get("url") is not None:
        glob = data["url"]
        if not isinstance(glob, str) or not glob or len(glob) > URL_PATTERN_LENGTH:
            collector.add(f"{path}.url", f"expected a URL pattern of 1 to {URL_PATTERN_LENGTH} characters (* and ?)")
        else:
            url = UrlPattern(glob)
    campaign = data.get("campaign") or ""
    if not isinstance(campaign, str) or len(campaign) > 200:
        collector.add(f"{path}.campaign", "expected a campaign name of at most 200 characters")
        campaign = ""
    properties: list[tuple[str, str | int | bool]] = []
    if data.get("properties") is not None:
        raw_properties = data["properties"]
        if not isinstance(raw_properties, Mapping) or not raw_properties:
            collector.add(f"{path}.properties", "expected a mapping of property names to values")
        else:
            for key, value in raw_properties.items():
                if not isinstance(key, str) or not key:
                    collector.add(f"{path}.properties", "property names must be non-empty text")
                elif not isinstance(value, str | int | bool):
                    collector.add(f"{path}.properties.{key}", "expected text, an integer or true/false")
                else:
                    properties.append((key, value))
    cap = None
    if data.get("cap") is not None:
        cap = collector.integer(data["cap"], f"{path}.cap", 1, CAP_LIMIT)
    group = data.get("group") or ""
    if group and group not in groups:
        collector.add(f"{path}.group", f"no group named '{group}' in engagement.groups")
    if len(collector.errors) > errors_before:
        return None
    return EngagementRule(
        name=name,
        touchpoint=touchpoint,
        points=points,
        url=url,
        campaign=campaign.strip(),
        properties=tuple(properties),
        cap=cap,
        group=group,
    )


def engagement_rules_parse(section: dict) -> EngagementRules:
    """Check the `engagement` section of a contract and return it as EngagementRules."""
    collector = _Collector()
    data = collector.mapping(section, "engagement", ("decay", "groups", "rules"))
    if data is None:
        raise ScoringRulesError(collector.errors)
    decay = Decay()
    if data.get("decay") is not None:
        raw_decay = collector.mapping(data["decay"], "engagement.decay", ("half_life_days", "window_days"))
        if raw_decay is not None:
            if len(raw_decay) != 1:
                collector.add("engagement.decay", "expected exactly one of half_life_days or window_days")
            elif "half_life_days" in raw_decay:
                half_life = raw_decay["half_life_days"]
                is_number = isinstance(half_life, int | float) and not isinstance(half_life, bool)
                if not is_number or not 1 <= half_life <= MAX_DAYS:
                    collector.add("engagement.decay.half_life_days", f"expected a number of days from 1 to {MAX_DAYS}")
                else:
                    decay = Decay(half_life_days=float(half_life))
            elif "window_days" in raw_decay:
                window = collector.integer(raw_decay["window_days"], "engagement.decay.window_days", 1, MAX_DAYS)
                if window is not None:
                    decay = Decay(window_days=window)
    groups: list[ScoreGroup] = []
    group_names: set[str] = set()
    raw_groups = data.get("groups") or []
    if not isinstance(raw_groups, list):
        collector.add("engagement.groups", "expected a list of {name, cap}")
        raw_groups = []
    for index, raw_group in enumerate(raw_groups):
        path = f"engagement.groups[{index}]"
        group_data = collector.mapping(raw_group, path, ("name", "cap"))
        if group_data is None:
            continue
        name = collector.name(group_data.get("name"), f"{path}.name", group_names)
        cap = collector.integer(group_data.get("cap"), f"{path}.cap", 1, CAP_LIMIT)
        if name is not None and cap is not None:
            groups.append(ScoreGroup(name=name, cap=cap))
    raw_rules = data.get("rules")
    rules: list[EngagementRule] = []
    if not isinstance(raw_rules, list):
        collector.add("engagement.rules", "expected a list of rules")
    elif len(raw_rules) > MAX_RULES:
        collector.add("engagement.rules", f"expected at most {MAX_RULES} rules")
    else:
        rule_names: set[str] = set()
        for index, raw_rule in enumerate(raw_rules):
            rule = _parse_rule(raw_rule, f"engagement.rules[{index}]", collector, rule_names, group_names)
            if rule is not None:
                rules.append(rule)
    if collector.errors:
        raise ScoringRulesError(collector.errors)
    return EngagementRules(rules=tuple(rules), groups=tuple(groups), decay=decay)


def combined_weights_parse(section: dict | None) -> CombinedWeights:
    """Check the `combined` section (fit_weight and engagement_weight from 0 to 1, summing to 1)."""
    if section is None:
        return CombinedWeights()
    collector = _Collector()
    data = collector.mapping(section, "combined", ("fit_weight", "engagement_weight"))
    weights = {}
    if data is not None:
        for key in ("fit_weight", "engagement_weight"):
            value = data.get(key)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                collector.add(f"combined.{key}", "expected a number from 0 to 1")
            else:
                weights[key] = float(value)
        if len(weights) == 2 and not math.isclose(sum(weights.values()), 1.0, abs_tol=1e-9):
            collector.add("combined", "fit_weight and engagement_weight must add up to 1")
    if collector.errors:
        raise ScoringRulesError(collector.errors)
    return CombinedWeights(**weights)
