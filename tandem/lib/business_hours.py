"""Business-hours calendars: when a team is open, and business time between instants.

Pure code, no ORM. A `BusinessCalendar` is a time zone, weekly opening hours, a
country's public holidays (from the maintained `holidays` library, optionally a
subdivision) and extra closed days. Per-user time off is a list of `(start, end)`
aware instants subtracted from the open time.

Business time is *elapsed* time while open: opening hours are wall-clock times in
the calendar's zone, converted to instants day by day, so a day with hours that
straddle a daylight-saving change is an hour shorter or longer, and a wall time
that does not exist (the spring-forward gap) opens at the first instant after it.
All results are aware datetimes in UTC; inputs may be in any zone but must be aware.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_library

UTC = dt.UTC
WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# A calendar with no open time for this many days in a row is treated as never open:
# the longest gap a real team has (holidays plus a long time off) is far shorter.
MAX_CLOSED_DAYS = 3 * 366
END_OF_DAY = dt.time(0, 0)  # an interval ending at 00:00 ends at midnight after the day

_HOURS_PATTERN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")

Interval = tuple[dt.datetime, dt.datetime]


class CalendarError(ValueError):
    """An invalid calendar; `path` names the offending field (e.g. `calendars.emea.hours.mon`)."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


@dataclass(frozen=True)
class OpeningInterval:
    """One stretch of opening hours within a day; `closes` of 00:00 means midnight at the end."""

    opens: dt.time
    closes: dt.time

    @property
    def open_minutes(self) -> int:
        """Nominal length in wall-clock minutes (ignores daylight-saving changes)."""
        end = 24 * 60 if self.closes == END_OF_DAY else self.closes.hour * 60 + self.closes.minute
        return end - (self.opens.hour * 60 + self.opens.minute)


@dataclass(frozen=True)
class BusinessCalendar:
    """A team's business calendar: zone, weekly hours, holidays and extra closed days."""

    time_zone: str
    weekly_hours: Mapping[int, tuple[OpeningInterval, ...]]  # 0 = Monday … 6 = Sunday
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    closed_dates: frozenset[dt.date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        zone_of(self.time_zone, path="time_zone")
        validate_holiday_country(self.holiday_country, self.holiday_subdivision)
        if not any(self.weekly_hours.get(day) for day in range(7)):
            raise CalendarError("hours", "the calendar is never open: give at least one day's hours")
        for day in range(7):
            _check_no_overlap(self.weekly_hours.get(day, ()), path=f"hours.{WEEKDAY_NAMES[day]}")

    @property
    def zone(self) -> ZoneInfo:
        return zone_of(self.time_zone)

    def is_closed_date(self, day: dt.date) -> bool:
        """True on a public holiday or an extra closed day (whatever the weekly hours say)."""
        if day in self.closed_dates:
            return True
        if self.holiday_country is None:
            return False
        return day in _holiday_dates(self.holiday_country, self.holiday_subdivision, day.year)

    def holiday_name(self, day: dt.date) -> str | None:
        """The public holiday's name on `day`, or None."""
        if self.holiday_country is None:
            return None
        return _holiday_names(self.holiday_country, self.holiday_subdivision, day.year).get(day)


# --- building and validating -------------------------------------------------------


def zone_of(name: str, *, path: str = "time_zone") -> ZoneInfo:
    """The ZoneInfo for an IANA name, or a CalendarError naming `path`."""
    if not isinstance(name, str) or not name.strip():
        raise CalendarError(path, "a time zone name is required (e.g. Europe/Paris)")
    try:
        return _zone(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise CalendarError(path, f"unknown time zone {name!r}") from None


@functools.lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def validate_holiday_country(country: str | None, subdivision: str | None, *, prefix: str = "") -> None:
    """Raise a CalendarError unless the holiday library knows the country (and subdivision)."""
    if country is None:
        if subdivision is not None:
            raise CalendarError(f"{prefix}holiday_subdivision", "a subdivision needs a holiday country")
        return
    supported = _supported_countries()
    if not isinstance(country, str) or country not in supported:
        raise CalendarError(
            f"{prefix}holiday_country",
            f"unknown holiday country {country!r} (use an ISO 3166-1 alpha-2 code, e.g. FR)",
        )
    if subdivision is not None and subdivision not in supported[country]:
        raise CalendarError(f"{prefix}holiday_subdivision", f"unknown subdivision {subdivision!r} of {country}")


@functools.lru_cache(maxsize=1)
def _supported_countries() -> dict[str, frozenset[str]]:
    return {code: frozenset(subdivisions) for code, subdivisions in holidays_library.list_supported_countries().items()}


def parse_hours(text: str, *, path: str) -> OpeningInterval:
    """Parse "09:00-17:30" (24:00 allowed as the end) into an OpeningInterval."""
    match = _HOURS_PATTERN.match(text) if isinstance(text, str) else None
    if match is None:
        raise CalendarError(path, f"hours must look like 09:00-17:00, got {text!r}")
    open_hour, open_minute, close_hour, close_minute = (int(part) for part in match.groups())
    if open_hour > 23 or open_minute > 59 or close_minute > 59 or close_hour > 24:
        raise CalendarError(path, f"{text!r} is not a valid time range")
    if close_hour == 24 and close_minute != 0:
        raise CalendarError(path, f"{text!r} is not a valid time range")
    opens = dt.time(open_hour, open_minute)
    closes = END_OF_DAY if close_hour == 24 else dt.time(close_hour, close_minute)
    if closes != END_OF_DAY and closes <= opens:
        raise CalendarError(path, f"{text!r} closes before it opens (split a night shift at 24:00)")
    return OpeningInterval(opens=opens, closes=closes)


def _check_no_overlap(intervals: Sequence[OpeningInterval], *, path: str) -> None:
    ordered = sorted(intervals, key=lambda interval: interval.opens)
    for before, after in zip(ordered, ordered[1:], strict=False):
        if before.closes == END_OF_DAY or after.opens < before.closes:
            raise CalendarError(path, "opening hours overlap")


def calendar_from_mapping(data: object, *, path: str = "") -> BusinessCalendar:
    """Build a calendar from its contract form; every error names its path under `path`.

    The form::

        time_zone: Europe/Paris
        hours: {mon: "09:00-17:00", tue: ["09:00-12:00", "13:00-17:00"], ...}
        holiday_country: FR          # optional; ISO code known to the holidays library
        holiday_subdivision: null    # optional
        closed_days: [2026-12-24]    # optional extra closed dates
    """
    prefix = f"{path}." if path else ""
    if not isinstance(data, Mapping):
        raise CalendarError(path, "a calendar must be a mapping")
    unknown = set(data) - {"time_zone", "hours", "holiday_country", "holiday_subdivision", "closed_days"}
    if unknown:
        raise CalendarError(f"{prefix}{sorted(unknown)[0]}", "unknown calendar field")
    zone_of(data.get("time_zone"), path=f"{prefix}time_zone")  # type: ignore[arg-type]
    country = data.get("holiday_country")
    subdivision = data.get("holiday_subdivision")
    if subdivision is not None and not isinstance(subdivision, str):
        subdivision = str(subdivision)
    validate_holiday_country(country, subdivision, prefix=prefix)
    hours = data.get("hours")
    if not isinstance(hours, Mapping) or not hours:
        raise CalendarError(f"{prefix}hours", "give opening hours per weekday, e.g. mon: 09:00-17:00")
    weekly: dict[int, tuple[OpeningInterval, ...]] = {}
    for name, value in hours.items():
        day_path = f"{prefix}hours.{name}"
        if name not in WEEKDAY_NAMES:
            raise CalendarError(day_path, f"unknown weekday (use {', '.join(WEEKDAY_NAMES)})")
        texts = [] if value in (None, "closed") else [value] if isinstance(value, str) else value
        if not isinstance(texts, list):
            raise CalendarError(day_path, "hours must be a range or a list of ranges")
        intervals = tuple(
            parse_hours(text, path=f"{day_path}[{index}]" if len(texts) > 1 else day_path)
            for index, text in enumerate(texts)
        )
        _check_no_overlap(intervals, path=day_path)
        weekly[WEEKDAY_NAMES.index(name)] = tuple(sorted(intervals, key=lambda i: i.opens))
    closed: set[dt.date] = set()
    closed_days = data.get("closed_days") or []
    if not isinstance(closed_days, list):
        raise CalendarError(f"{prefix}closed_days", "closed days must be a list of dates")
    for index, value in enumerate(closed_days):
        closed.add(_parse_date(value, path=f"{prefix}closed_days[{index}]"))
    try:
        return BusinessCalendar(
            time_zone=data["time_zone"],
            weekly_hours=weekly,
            holiday_country=country,
            holiday_subdivision=subdivision,
            closed_dates=frozenset(closed),
        )
    except CalendarError as error:
        raise CalendarError(f"{prefix}{error.path}", error.message) from None


def _parse_date(value: object, *, path: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise CalendarError(path, f"{value!r} is not a date (YYYY-MM-DD)") from None


@functools.lru_cache(maxsize=512)
def _holiday_names(country: str, subdivision: str | None, year: int) -> dict[dt.date, str]:
    calendar = holidays_library.country_holidays(country, subdiv=subdivision, years=year)
    return {day: name for day, name in calendar.items() if day.year == year}


@functools.lru_cache(maxsize=512)
def _holiday_dates(country: str, subdivision: str | None, year: int) -> frozenset[dt.date]:
    return frozenset(_holiday_names(country, subdivision, year))


def time_off_for_dates(calendar: BusinessCalendar, first_day: dt.date, last_day: dt.date) -> Interval:
    """Whole days off (inclusive) as an interval of instants in the calendar's zone."""
    zone = calendar.zone
    start = dt.datetime.combine(first_day, dt.time(0), tzinfo=zone).astimezone(UTC)
    end = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
    return start, end.astimezone(UTC)


# --- computing ---------------------------------------------------------------------


def _require_aware(moment: dt.datetime, name: str) -> dt.datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime")
    return moment.astimezone(UTC)


def _local_instant(day: dt.date, moment: dt.time, zone: ZoneInfo) -> dt.datetime:
    """The instant a wall clock in `zone` shows `moment` on `day` (PEP 495, fold=0).

    In the fall-back overlap the first occurrence is used. A wall time in the
    spring-forward gap does not exist; it maps as if the clock had not moved yet,
    so 02:30 on the spring day of Europe/Paris is 03:30 summer time.
    """
    return dt.datetime.combine(day, moment, tzinfo=zone).astimezone(UTC)


def _day_intervals(calendar: BusinessCalendar, day: dt.date) -> list[Interval]:
    """Open intervals of one local date as UTC instants (empty on closed days)."""
    if calendar.is_closed_date(day):
        return []
    zone = calendar.zone
    intervals = []
    for interval in calendar.weekly_hours.get(day.weekday(), ()):
        start = _local_instant(day, interval.opens, zone)
        if interval.closes == END_OF_DAY:
            end = _local_instant(day + dt.timedelta(days=1), dt.time(0), zone)
        else:
            end = _local_instant(day, interval.closes, zone)
        if end > start:
            intervals.append((start, end))
    return intervals


def _normalise_time_off(time_off: Iterable[Interval]) -> list[Interval]:
    spans = sorted(
        (_require_aware(start, "time off start"), _require_aware(end, "time off end")) for start, end in time_off
    )
    merged: list[Interval] = []
    for start, end in spans:
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _subtract(intervals: list[Interval], time_off: list[Interval]) -> list[Interval]:
    if not time_off:
        return intervals
    result = []
    for start, end in intervals:
        cursor = start
        for off_start, off_end in time_off:
            if off_end <= cursor or off_start >= end:
                continue
            if off_start > cursor:
                result.append((cursor, off_start))
            cursor = max(cursor, off_end)
            if cursor >= end:
                break
        if cursor < end:
            result.append((cursor, end))
    return result


def open_intervals(
    calendar: BusinessCalendar,
    start: dt.datetime,
    *,
    time_off: Iterable[Interval] = (),
    end: dt.datetime | None = None,
) -> Iterator[Interval]:
    """Open intervals (UTC, minus time off) from `start` onward, clipped to [start, end).

    Without `end` the iterator is endless unless the calendar stays closed for
    MAX_CLOSED_DAYS in a row, when it raises a ValueError.
    """
    start = _require_aware(start, "start")
    end = _require_aware(end, "end") if end is not None else None
    off = _normalise_time_off(time_off)
    zone = calendar.zone
    # Start a day early: the local date of `start` may differ from its UTC date.
    day = start.astimezone(zone).date() - dt.timedelta(days=1)
    closed_days = 0
    while True:
        if end is not None and dt.datetime.combine(day, dt.time(0), tzinfo=UTC) > end + dt.timedelta(days=2):
            return
        produced = False
        for interval_start, interval_end in _subtract(_day_intervals(calendar, day), off):
            if interval_end <= start:
                continue
            clipped_start = max(interval_start, start)
            clipped_end = interval_end if end is None else min(interval_end, end)
            if clipped_end > clipped_start:
                produced = True
                yield clipped_start, clipped_end
        closed_days = 0 if produced else closed_days + 1
        if end is None and closed_days > MAX_CLOSED_DAYS:
            raise ValueError(f"the calendar is closed for more than {MAX_CLOSED_DAYS} days in a row")
        day += dt.timedelta(days=1)


def add_business_minutes(
    calendar: BusinessCalendar,
    start: dt.datetime,
    minutes: float,
    *,
    time_off: Iterable[Interval] = (),
) -> dt.datetime:
    """The instant (UTC) at which `minutes` of business time have passed since `start`.

    Zero minutes returns `start` itself; a positive amount that ends exactly at a
    closing time returns the closing time, not the next opening.
    """
    if minutes < 0:
        raise ValueError("minutes must not be negative")
    remaining = dt.timedelta(minutes=minutes)
    start_utc = _require_aware(start, "start")
    if not remaining:
        return start_utc
    for interval_start, interval_end in open_intervals(calendar, start_utc, time_off=time_off):
        length = interval_end - interval_start
        if length >= remaining:
            return interval_start + remaining
        remaining -= length
    raise AssertionError("unreachable: open_intervals is endless or raises")  # pragma: no cover


def add_business_days(
    calendar: BusinessCalendar,
    start: dt.datetime,
    days: int,
    *,
    time_off: Iterable[Interval] = (),
) -> dt.datetime:
    """The same wall-clock time `days` open days later (UTC); "3 attempts within 2 business days".

    A start outside opening hours counts from the next opening. Days the calendar is closed, or that
    time off covers entirely, are skipped. When that day closes earlier than the time, its close.
    """
    if days < 0:
        raise ValueError("days must not be negative")
    off = _normalise_time_off(time_off)
    begin = next_opening(calendar, start, time_off=off)
    if not days:
        return begin
    zone = calendar.zone
    local = begin.astimezone(zone)
    day, counted, closed_run = local.date(), 0, 0
    intervals: list[Interval] = []
    while counted < days:
        day += dt.timedelta(days=1)
        intervals = _subtract(_day_intervals(calendar, day), off)
        if intervals:
            counted, closed_run = counted + 1, 0
        else:
            closed_run += 1
            if closed_run > MAX_CLOSED_DAYS:
                raise ValueError(f"the calendar is closed for more than {MAX_CLOSED_DAYS} days in a row")
    target = _local_instant(day, local.time(), zone)
    last_close = intervals[-1][1]
    return min(max(target, intervals[0][0]), last_close)


def business_minutes_between(
    calendar: BusinessCalendar,
    start: dt.datetime,
    end: dt.datetime,
    *,
    time_off: Iterable[Interval] = (),
) -> float:
    """Business minutes between two instants (negative when `end` is before `start`)."""
    start_utc = _require_aware(start, "start")
    end_utc = _require_aware(end, "end")
    if end_utc < start_utc:
        return -business_minutes_between(calendar, end_utc, start_utc, time_off=time_off)
    total = dt.timedelta()
    for interval_start, interval_end in open_intervals(calendar, start_utc, time_off=time_off, end=end_utc):
        total += interval_end - interval_start
    return total.total_seconds() / 60


def is_open(calendar: BusinessCalendar, moment: dt.datetime, *, time_off: Iterable[Interval] = ()) -> bool:
    """True when `moment` falls inside opening hours (and outside time off)."""
    moment = _require_aware(moment, "moment")
    for interval_start, _ in open_intervals(calendar, moment, time_off=time_off, end=moment + dt.timedelta(seconds=1)):
        return interval_start == moment
    return False


def next_opening(calendar: BusinessCalendar, moment: dt.datetime, *, time_off: Iterable[Interval] = ()) -> dt.datetime:
    """`moment` itself when open, else the next instant the calendar opens (UTC)."""
    moment = _require_aware(moment, "moment")
    for interval_start, _ in open_intervals(calendar, moment, time_off=time_off):
        return interval_start
    raise AssertionError("unreachable")  # pragma: no cover
