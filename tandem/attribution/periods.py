"""The period of an attribution report: from and to as calendar dates (UTC), both days included."""

import datetime as dt

DEFAULT_DAYS = 365
MAX_DAYS = 3 * 366


class PeriodError(ValueError):
    """A bad from/to, naming the field."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


def _date(text: str | None, field: str) -> dt.date | None:
    if text in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(str(text))
    except ValueError:
        raise PeriodError(field, f"expected a date as YYYY-MM-DD, got '{str(text)[:40]}'.") from None


def period_parse(from_text: str | None, to_text: str | None, *, today: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) in UTC for the dates `from`..`to`; by default the year up to and including today."""
    last = _date(to_text, "to") or today
    first = _date(from_text, "from") or last - dt.timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise PeriodError("from", f"must not be after to ({first} > {last}).")
    if (last - first).days + 1 > MAX_DAYS:
        raise PeriodError("from", f"the period is {(last - first).days + 1} days; at most {MAX_DAYS}.")
    start = dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    return start, end
