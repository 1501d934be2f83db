"""The contract's `sla` section: hand-off SLA policies and business-hours calendars, as plain data.

Pure code (no ORM): `sla_section_parse` turns the section into an `SlaSection` or raises an
`SlaSectionError` listing every problem by path; `check_sla` reports those problems beside the
contract's own, so an invalid policy or calendar stops a version from being proposed or published.

The form::

    sla:
      calendars:
        - {key: emea, name: EMEA, teams: [Sales EMEA], time_zone: Europe/Paris,
           hours: {mon: "09:00-17:00", ...}, holiday_country: FR, closed_days: [2026-12-24]}
      default_calendar: emea
      first_response: {activities: [call, email, meeting], lead_statuses: [attempting, connected]}
      attempts: {count: 3, within_business_days: 2}
      escalation: {after_business_hours: 2, reassign: false}
      policies:
        - {key: tier_1, name: ICP tier 1, icp_tier: 1, first_response_business_hours: 1}
        - {key: standard, name: Everyone else, first_response_business_hours: 4}

Policies are tried in order; the first whose `icp_tier` and `segment` (an MQL segment name)
match the hand-off applies. The last policy matches everyone, so every hand-off has a clock.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tandem.lib.business_hours import BusinessCalendar, CalendarError, calendar_from_mapping

Path = tuple[str | int, ...]
Report = Callable[[Path, str], None]

KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
ACTIVITY_KINDS = ("call", "email", "meeting", "note", "task")  # crm.ActivityKind
LEAD_STATUSES = ("new", "attempting", "connected", "qualified", "unqualified", "bad_timing")  # crm defaults
MAX_BUSINESS_HOURS = 24 * 30
CALENDAR_FIELDS = ("time_zone", "hours", "holiday_country", "holiday_subdivision", "closed_days")


@dataclass(frozen=True)
class Attempts:
    """How many contact attempts a rep must make within how many business days."""

    count: int
    within_business_days: int


@dataclass(frozen=True)
class SlaPolicy:
    """One segment's promise: first response within N business hours, then escalation."""

    key: str
    name: str
    first_response_business_minutes: int
    icp_tiers: tuple[int, ...] = ()
    segments: tuple[str, ...] = ()
    attempts: Attempts | None = None
    escalate_after_business_minutes: int = 0
    reassign_on_breach: bool = False

    def matches(self, *, icp_tier: int | None, segment: str) -> bool:
        """True when the hand-off's ICP tier and MQL segment are both among this policy's (or it has none)."""
        if self.icp_tiers and icp_tier not in self.icp_tiers:
            return False
        return not self.segments or segment in self.segments


@dataclass(frozen=True)
class SlaCalendar:
    """A named business calendar and the teams that work by it."""

    key: str
    name: str
    teams: tuple[str, ...]
    calendar: BusinessCalendar


@dataclass(frozen=True)
class SlaSection:
    """The whole `sla` section, ready to run."""

    calendars: tuple[SlaCalendar, ...]
    default_calendar: str
    policies: tuple[SlaPolicy, ...]
    response_activities: tuple[str, ...]
    response_lead_statuses: tuple[str, ...]

    def policy_for(self, *, icp_tier: int | None, segment: str) -> SlaPolicy:
        """The first policy matching the hand-off (the last one matches everyone)."""
        return next(policy for policy in self.policies if policy.matches(icp_tier=icp_tier, segment=segment))

    def calendar_for_team(self, team_name: str | None) -> SlaCalendar:
        """The calendar the team works by; the default calendar for a team none names."""
        for calendar in self.calendars:
            if team_name is not None and team_name in calendar.teams:
                return calendar
        return self.calendar(self.default_calendar)

    def calendar(self, key: str) -> SlaCalendar:
        return next(calendar for calendar in self.calendars if calendar.key == key)


class SlaSectionError(ValueError):
    """Every problem of an `sla` section, as (path, message) pairs."""

    def __init__(self, problems: list[tuple[Path, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{_path_text(path)}: {message}" for path, message in problems[:5]))


def _path_text(path: Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_sla(section: Any, path: Path, report: Report, document: dict) -> None:
    """The contract's check of the `sla` section: every problem at its own path."""
    try:
        sla_section_parse(section, document=document, path=path)
    except SlaSectionError as error:
        for problem_path, message in error.problems:
            report(problem_path, message)


def sla_section_parse(section: Any, *, document: dict | None = None, path: Path = ("sla",)) -> SlaSection:
    """Parse and check the `sla` section; raises SlaSectionError naming every bad path."""
    problems: list[tuple[Path, str]] = []

    def report(where: Path, message: str) -> None:
        problems.append((where, message))

    if not isinstance(section, dict):
        raise SlaSectionError([(path, "expected a mapping with calendars, default_calendar and policies.")])
    allowed = ("calendars", "default_calendar", "first_response", "attempts", "escalation", "policies")
    for name in section:
        if name not in allowed:
            report((*path, str(name)), f"unknown field; the fields are {', '.join(allowed)}.")

    calendars = _parse_calendars(section.get("calendars"), (*path, "calendars"), report)
    default = section.get("default_calendar")
    keys = [calendar.key for calendar in calendars]
    if default is None and len(keys) == 1:
        default = keys[0]
    elif default not in keys and section.get("calendars") is not None:
        report(
            (*path, "default_calendar"),
            f"expected the key of one of the calendars ({', '.join(keys) or 'none defined'}), got {default!r}.",
        )

    activities, statuses = _parse_first_response(section.get("first_response"), (*path, "first_response"), report)
    attempts = _parse_attempts(section.get("attempts"), (*path, "attempts"), report)
    escalate_minutes, reassign = _parse_escalation(section.get("escalation"), (*path, "escalation"), report)
    segment_names = {
        segment.get("name")
        for segment in ((document or {}).get("mql") or {}).get("segments") or []
        if isinstance(segment, dict)
    }
    policies = _parse_policies(
        section.get("policies"),
        (*path, "policies"),
        report,
        defaults=(attempts, escalate_minutes, reassign),
        segment_names=segment_names if document is not None else None,
    )
    if problems:
        raise SlaSectionError(problems)
    return SlaSection(
        calendars=tuple(calendars),
        default_calendar=default,
        policies=tuple(policies),
        response_activities=activities,
        response_lead_statuses=statuses,
    )


def _parse_calendars(value: Any, path: Path, report: Report) -> list[SlaCalendar]:
    if not isinstance(value, list) or not value:
        report(path, "give at least one calendar (key, time_zone, hours).")
        return []
    calendars: list[SlaCalendar] = []
    seen_keys: set[str] = set()
    team_owner: dict[str, str] = {}
    for index, item in enumerate(value):
        item_path = (*path, index)
        if not isinstance(item, dict):
            report(item_path, "expected a mapping with key, time_zone and hours.")
            continue
        key = item.get("key")
        if not isinstance(key, str) or not KEY_PATTERN.match(key):
            report((*item_path, "key"), "expected a key of lower-case letters, digits and _ (e.g. emea).")
            continue
        if key in seen_keys:
            report((*item_path, "key"), f"'{key}' is defined twice.")
        seen_keys.add(key)
        teams = item.get("teams") or []
        if not isinstance(teams, list) or not all(isinstance(team, str) and team.strip() for team in teams):
            report((*item_path, "teams"), "expected a list of team names.")
            teams = []
        for team in teams:
            if team in team_owner:
                report((*item_path, "teams"), f"team {team!r} already works by calendar '{team_owner[team]}'.")
            team_owner.setdefault(team, key)
        name = item.get("name", key)
        if not isinstance(name, str) or not name.strip() or len(name) > 80:
            report((*item_path, "name"), "expected a name of at most 80 characters.")
        for field in item:
            if field not in (*CALENDAR_FIELDS, "key", "name", "teams"):
                report((*item_path, str(field)), "unknown calendar field.")
        fields = {field: item[field] for field in CALENDAR_FIELDS if field in item}
        try:
            calendar = calendar_from_mapping(fields)
        except CalendarError as error:
            report((*item_path, *_split(error.path)), error.message)
            continue
        calendars.append(SlaCalendar(key=key, name=str(name), teams=tuple(teams), calendar=calendar))
    return calendars


def _split(text: str) -> Path:
    """'hours.mon[1]' -> ('hours', 'mon', 1)."""
    parts: list[str | int] = []
    for piece in text.split("."):
        name, _, rest = piece.partition("[")
        if name:
            parts.append(name)
        if rest:
            parts.append(int(rest.rstrip("]")))
    return tuple(parts)


def _parse_first_response(value: Any, path: Path, report: Report) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if value is None:
        return ("call", "email", "meeting"), ("attempting", "connected")
    if not isinstance(value, dict):
        report(path, "expected a mapping with activities and lead_statuses.")
        return (), ()
    for name in value:
        if name not in ("activities", "lead_statuses"):
            report((*path, str(name)), "unknown field; the fields are activities, lead_statuses.")
    activities = value.get("activities") or []
    statuses = value.get("lead_statuses") or []
    checks = (
        ("activities", "activity", activities, ACTIVITY_KINDS),
        ("lead_statuses", "lead status", statuses, LEAD_STATUSES),
    )
    for name, singular, items, known in checks:
        if not isinstance(items, list):
            report((*path, name), f"expected a list of {', '.join(known)}.")
            continue
        for index, item in enumerate(items):
            if item not in known:
                report((*path, name, index), f"unknown {singular} {item!r}; use {', '.join(known)}.")
    if isinstance(activities, list) and isinstance(statuses, list) and not activities and not statuses:
        report(path, "name at least one activity or lead status that counts as a first response.")
    return (
        tuple(activities) if isinstance(activities, list) else (),
        tuple(statuses) if isinstance(statuses, list) else (),
    )


def _parse_attempts(value: Any, path: Path, report: Report) -> Attempts | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"count", "within_business_days"}:
        report(path, "expected a mapping with count and within_business_days.")
        return None
    count, days = value.get("count"), value.get("within_business_days")
    valid = True
    if not _is_int(count) or not 1 <= count <= 50:
        report((*path, "count"), f"expected a whole number of attempts from 1 to 50, got {count!r}.")
        valid = False
    if not _is_int(days) or not 1 <= days <= 30:
        report((*path, "within_business_days"), f"expected a whole number of business days from 1 to 30, got {days!r}.")
        valid = False
    return Attempts(count, days) if valid else None


def _hours_to_minutes(value: Any, path: Path, report: Report, *, allow_zero: bool) -> int | None:
    low = 0 if allow_zero else 0.01
    if not _is_number(value) or not low <= value <= MAX_BUSINESS_HOURS:
        report(
            path,
            f"expected a number of business hours from {'0' if allow_zero else 'above 0'} to "
            f"{MAX_BUSINESS_HOURS}, got {value!r}.",
        )
        return None
    return round(value * 60)


def _parse_escalation(value: Any, path: Path, report: Report) -> tuple[int, bool]:
    if value is None:
        return 0, False
    if not isinstance(value, dict) or set(value) - {"after_business_hours", "reassign"}:
        report(path, "expected a mapping with after_business_hours and reassign.")
        return 0, False
    minutes = _hours_to_minutes(
        value.get("after_business_hours", 0), (*path, "after_business_hours"), report, allow_zero=True
    )
    reassign = value.get("reassign", False)
    if not isinstance(reassign, bool):
        report((*path, "reassign"), f"expected true or false, got {reassign!r}.")
    return minutes or 0, reassign is True


def _parse_policies(
    value: Any,
    path: Path,
    report: Report,
    *,
    defaults: tuple[Attempts | None, int, bool],
    segment_names: set[str] | None,
) -> list[SlaPolicy]:
    if not isinstance(value, list) or not value:
        report(path, "give at least one policy (key, name, first_response_business_hours).")
        return []
    fields = (
        "key",
        "name",
        "icp_tier",
        "segment",
        "first_response_business_hours",
        "attempts",
        "escalate_after_business_hours",
        "reassign_on_breach",
    )
    policies: list[SlaPolicy] = []
    keys: set[str] = set()
    for index, item in enumerate(value):
        item_path = (*path, index)
        if not isinstance(item, dict):
            report(item_path, "expected a mapping with key, name and first_response_business_hours.")
            continue
        for name in item:
            if name not in fields:
                report((*item_path, str(name)), f"unknown field; the fields are {', '.join(fields)}.")
        key = item.get("key")
        if not isinstance(key, str) or not KEY_PATTERN.match(key):
            report((*item_path, "key"), "expected a key of lower-case letters, digits and _ (e.g. tier_1).")
        elif key in keys:
            report((*item_path, "key"), f"'{key}' is defined twice.")
        keys.add(key if isinstance(key, str) else "")
        name = item.get("name", key)
        if not isinstance(name, str) or not name.strip() or len(name) > 80:
            report((*item_path, "name"), "expected a name of at most 80 characters.")
        tiers = item.get("icp_tier", [])
        tiers = [tiers] if _is_int(tiers) else tiers
        if not isinstance(tiers, list) or not all(_is_int(tier) and 1 <= tier <= 9 for tier in tiers):
            report((*item_path, "icp_tier"), f"expected an ICP tier (1 to 9) or a list of them, got {tiers!r}.")
            tiers = []
        segments = item.get("segment", [])
        segments = [segments] if isinstance(segments, str) else segments
        if not isinstance(segments, list) or not all(isinstance(segment, str) for segment in segments):
            report((*item_path, "segment"), "expected an MQL segment name or a list of them.")
            segments = []
        for segment in segments:
            if segment_names is not None and segment not in segment_names:
                report(
                    (*item_path, "segment"),
                    f"unknown MQL segment {segment!r}; the segments are {', '.join(sorted(segment_names)) or 'none'}.",
                )
        response = _hours_to_minutes(
            item.get("first_response_business_hours"),
            (*item_path, "first_response_business_hours"),
            report,
            allow_zero=False,
        )
        attempts = defaults[0]
        if "attempts" in item:
            attempts = _parse_attempts(item["attempts"], (*item_path, "attempts"), report)
        escalate = defaults[1]
        if "escalate_after_business_hours" in item:
            escalate = (
                _hours_to_minutes(
                    item["escalate_after_business_hours"],
                    (*item_path, "escalate_after_business_hours"),
                    report,
                    allow_zero=True,
                )
                or 0
            )
        reassign = item.get("reassign_on_breach", defaults[2])
        if not isinstance(reassign, bool):
            report((*item_path, "reassign_on_breach"), f"expected true or false, got {reassign!r}.")
        if response is None or not isinstance(key, str):
            continue
        policies.append(
            SlaPolicy(
                key=key,
                name=str(name),
                first_response_business_minutes=response,
                icp_tiers=tuple(tiers),
                segments=tuple(segments),
                attempts=attempts,
                escalate_after_business_minutes=escalate,
                reassign_on_breach=reassign is True,
            )
        )
    last = value[-1]
    if isinstance(last, dict) and ("icp_tier" in last or "segment" in last):
        report(
            (*path, len(value) - 1),
            "the last policy must match every hand-off (no icp_tier or segment), so every hand-off has a clock.",
        )
    return policies
