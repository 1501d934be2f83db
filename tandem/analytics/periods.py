"""Reporting periods: a month, a quarter, a year or a custom range of days, and the ones before them."""

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

KINDS = ("month", "quarter", "year", "custom")
EXPECTED = "expected a month (2026-11), a quarter (2026-Q4), a year (2026) or a range (2026-01-01..2026-02-01)"


class PeriodError(ValueError):
    """A period that cannot be read; the message names what was expected."""


@dataclass(frozen=True)
class Period:
    """Days [start, end): `end` is the first day after the period."""

    kind: str
    start: dt.date
    end: dt.date

    @property
    def key(self) -> str:
        """How the period is written in a URL: 2026-11, 2026-Q4, 2026, or 2026-01-05..2026-02-01."""
        if self.kind == "month":
            return f"{self.start:%Y-%m}"
        if self.kind == "quarter":
            return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"
        if self.kind == "year":
            return str(self.start.year)
        return f"{self.start.isoformat()}..{self.end.isoformat()}"

    @property
    def label(self) -> str:
        if self.kind == "month":
            return f"{self.start:%B %Y}"
        if self.kind == "quarter":
            return f"Q{(self.start.month - 1) // 3 + 1} {self.start.year}"
        if self.kind == "year":
            return str(self.start.year)
        return f"{self.start.isoformat()} to {(self.end - dt.timedelta(days=1)).isoformat()}"

    @property
    def short_label(self) -> str:
        if self.kind == "month":
            return f"{self.start:%b %y}"
        if self.kind == "quarter":
            return f"Q{(self.start.month - 1) // 3 + 1} {self.start:%y}"
        return self.label

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def start_at(self) -> dt.datetime:
        return _midnight(self.start)

    def end_at(self) -> dt.datetime:
        return _midnight(self.end)

    def previous(self) -> "Period":
        return self.shifted(-1)

    def shifted(self, steps: int) -> "Period":
        if self.kind in ("month", "quarter", "year"):
            months = {"month": 1, "quarter": 3, "year": 12}[self.kind] * steps
            return Period(self.kind, _add_months(self.start, months), _add_months(self.end, months))
        length = dt.timedelta(days=self.days * steps)
        return Period(self.kind, self.start + length, self.end + length)

    def history(self, count: int) -> list["Period"]:
        """This period and the `count - 1` before it, oldest first."""
        return [self.shifted(-steps) for steps in range(count - 1, -1, -1)]

    def is_closed(self, today: dt.date) -> bool:
        return self.end <= today


def _midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def containing(kind: str, day: dt.date) -> Period:
    """The month, quarter or year that holds a day."""
    if kind == "month":
        start = day.replace(day=1)
        return Period("month", start, _add_months(start, 1))
    if kind == "quarter":
        start = dt.date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
        return Period("quarter", start, _add_months(start, 3))
    if kind == "year":
        return Period("year", dt.date(day.year, 1, 1), dt.date(day.year + 1, 1, 1))
    raise PeriodError(f"expected one of month, quarter, year; got '{kind}'.")


def period_parse(text: str | None, *, today: dt.date) -> Period:
    """A period from its URL form (see Period.key); empty means the current quarter."""
    text = (text or "").strip()
    if not text:
        return containing("quarter", today)
    try:
        if ".." in text:
            first, _, last = text.partition("..")
            start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
            if end <= start:
                raise PeriodError("the end of a custom period must come after its start.")
            if (end - start).days > 3660:
                raise PeriodError("a custom period may span at most ten years.")
            return Period("custom", start, end)
        if "-Q" in text.upper():
            year, _, quarter = text.upper().partition("-Q")
            number = int(quarter)
            if not 1 <= number <= 4:
                raise PeriodError(f"a quarter is Q1 to Q4, got Q{number}.")
            return containing("quarter", dt.date(int(year), number * 3 - 2, 1))
        if len(text) == 7:
            return containing("month", dt.date.fromisoformat(f"{text}-01"))
        if len(text) == 4:
            return containing("year", dt.date(int(text), 1, 1))
    except ValueError as error:
        if isinstance(error, PeriodError):
            raise
        raise PeriodError(f"{EXPECTED}, got '{text[:30]}'.") from None
    raise PeriodError(f"{EXPECTED}, got '{text[:30]}'.")
