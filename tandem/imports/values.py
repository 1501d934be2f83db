"""Parse the text of one cell into a typed value, or say exactly why it cannot be.

Dates and numbers are ambiguous across countries (03/04/2025, 1.234), so each column gets one
reading, chosen from a sample of its values and stated in the preview; a value that does not
fit that reading is an error, never a guess.
"""

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

EMAIL = re.compile(r"^[^@\s,;<>()\[\]\"]+@[^@\s,;<>()\[\]\"]+\.[^@\s,;<>()\[\]\".]{2,}$")
TRUE_WORDS = frozenset({"true", "yes", "y", "1", "x", "t", "on", "checked", "opted in", "ja", "oui", "si", "sí"})
FALSE_WORDS = frozenset({"false", "no", "n", "0", "f", "off", "unchecked", "opted out", "nein", "non"})
CURRENCY_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR", "₩": "KRW", "CHF": "CHF"}
CURRENCY_AROUND = re.compile(
    r"^\s*(?P<before>[A-Z]{3}|[$€£¥₹₩])?\s*(?P<number>.*?)\s*(?P<after>[A-Z]{3}|[$€£¥₹₩])?\s*$"
)
NUMBER_DOT = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$")
NUMBER_COMMA = re.compile(r"^[+-]?(\d{1,3}(\.\d{3})+|\d{1,3}( \d{3})+|\d+)(,\d+)?$")
NUMBER_SPACE_DOT = re.compile(r"^[+-]?\d{1,3}( \d{3})+(\.\d+)?$")
FORMULA_QUOTED = re.compile(r"^'[=+\-@\t\r]")


class CellError(ValueError):
    """The cell's text is not a valid value for its field; the message says what was expected."""


def unquote_formula(text: str) -> str:
    """Undo the leading quote that Tandem's exports put before text a spreadsheet would run."""
    return text[1:] if FORMULA_QUOTED.match(text) else text


# ------------------------------------------------------------------ dates


@dataclass(frozen=True)
class DateFormat:
    """One way of writing dates; `order` says which of day/month/year come first."""

    key: str
    label: str
    pattern: re.Pattern
    order: str  # "ymd", "mdy" or "dmy"


_TIME = (
    r"(?:[ T](?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.(?P<fraction>\d{1,6})\d*)?)?"
    r"\s*(?P<ampm>[AaPp][Mm])?\s*(?P<zone>Z|[+-]\d{2}:?\d{2})?)?"
)
DATE_FORMATS = [
    DateFormat("iso", "YYYY-MM-DD", re.compile(rf"^(?P<y>\d{{4}})-(?P<m>\d{{1,2}})-(?P<d>\d{{1,2}}){_TIME}$"), "ymd"),
    DateFormat(
        "ymd_slash", "YYYY/MM/DD", re.compile(rf"^(?P<y>\d{{4}})/(?P<m>\d{{1,2}})/(?P<d>\d{{1,2}}){_TIME}$"), "ymd"
    ),
    DateFormat("mdy", "MM/DD/YYYY", re.compile(rf"^(?P<m>\d{{1,2}})/(?P<d>\d{{1,2}})/(?P<y>\d{{4}}){_TIME}$"), "mdy"),
    DateFormat("dmy", "DD/MM/YYYY", re.compile(rf"^(?P<d>\d{{1,2}})/(?P<m>\d{{1,2}})/(?P<y>\d{{4}}){_TIME}$"), "dmy"),
    DateFormat(
        "dmy_dot", "DD.MM.YYYY", re.compile(rf"^(?P<d>\d{{1,2}})\.(?P<m>\d{{1,2}})\.(?P<y>\d{{4}}){_TIME}$"), "dmy"
    ),
    DateFormat(
        "dmy_dash", "DD-MM-YYYY", re.compile(rf"^(?P<d>\d{{1,2}})-(?P<m>\d{{1,2}})-(?P<y>\d{{4}}){_TIME}$"), "dmy"
    ),
    DateFormat(
        "mdy_dash", "MM-DD-YYYY", re.compile(rf"^(?P<m>\d{{1,2}})-(?P<d>\d{{1,2}})-(?P<y>\d{{4}}){_TIME}$"), "mdy"
    ),
]
DATE_FORMATS_BY_KEY = {item.key: item for item in DATE_FORMATS}
# Formats that read the same text differently; the sample decides, else the mapping's date order.
AMBIGUOUS_PAIRS = {"mdy": "dmy", "dmy": "mdy", "mdy_dash": "dmy_dash", "dmy_dash": "mdy_dash"}


def detect_date_format(samples: list[str], *, preferred_order: str = "mdy") -> DateFormat | None:
    """The date format that reads every sample value, preferring the given day/month order on a tie."""
    values = [value.strip() for value in samples if value and value.strip()]
    if not values:
        return None
    fitting = []
    for candidate in DATE_FORMATS:
        if all(_date_parts(candidate, value) is not None for value in values):
            fitting.append(candidate)
    if not fitting:
        # The most common format in the sample; the other values become row errors naming it.
        scored = [(sum(_date_parts(c, v) is not None for v in values), c) for c in DATE_FORMATS]
        best_count, best = max(scored, key=lambda pair: pair[0])
        return best if best_count else None
    for candidate in fitting:
        if candidate.order in ("ymd", preferred_order):
            return candidate
    return fitting[0]


def _date_parts(date_format: DateFormat, text: str):
    match = date_format.pattern.match(text)
    if not match:
        return None
    year, month, day = int(match["y"]), int(match["m"]), int(match["d"])
    if not (1 <= month <= 12 and 1 <= day <= 31 and 1000 <= year <= 9999):
        return None
    return match


class DateReader:
    """Reads a column's dates in its one detected format; times are optional."""

    def __init__(self, date_format: DateFormat, *, time_zone: str = "UTC"):
        self.format = date_format
        self.zone = ZoneInfo(time_zone)
        self._cache: dict[str, dt.datetime] = {}

    def _datetime(self, text: str) -> dt.datetime:
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        match = self.format.pattern.match(text)
        if not match:
            raise CellError(f"'{text}' is not a date in the format {self.format.label}")
        try:
            hour = int(match["hour"] or 0)
            if match["ampm"]:
                if not 1 <= hour <= 12:
                    raise ValueError("hour")
                hour = hour % 12 + (12 if match["ampm"].lower() == "pm" else 0)
            fraction = match["fraction"] or ""
            value = dt.datetime(
                int(match["y"]),
                int(match["m"]),
                int(match["d"]),
                hour,
                int(match["minute"] or 0),
                int(match["second"] or 0),
                int(fraction.ljust(6, "0")) if fraction else 0,
            )
        except ValueError:
            raise CellError(f"'{text}' is not a real date in the format {self.format.label}") from None
        zone = match["zone"]
        if zone:
            if zone == "Z":
                tzinfo = dt.UTC
            else:
                digits = zone.replace(":", "")
                sign = -1 if digits[0] == "-" else 1
                tzinfo = dt.timezone(sign * dt.timedelta(hours=int(digits[1:3]), minutes=int(digits[3:5])))
            value = value.replace(tzinfo=tzinfo)
        else:
            value = value.replace(tzinfo=self.zone)
        if len(self._cache) < 50_000:
            self._cache[text] = value
        return value

    def date(self, text: str) -> dt.date:
        return self._datetime(text).date()

    def datetime(self, text: str) -> dt.datetime:
        return self._datetime(text)


# ------------------------------------------------------------------ numbers


@dataclass(frozen=True)
class NumberStyle:
    key: str
    label: str


NUMBER_STYLES = {
    "dot": NumberStyle("dot", "1,234.56 (point for decimals)"),
    "comma": NumberStyle("comma", "1.234,56 (comma for decimals)"),
}


def detect_number_style(samples: list[str]) -> NumberStyle:
    """Comma-decimal if any sample can only be read that way (1.234,5 or 12,5), else point-decimal."""
    for raw in samples:
        number = _strip_currency(raw.strip())[0]
        if not number:
            continue
        if "," in number and "." in number:
            return NUMBER_STYLES["comma" if number.rfind(",") > number.rfind(".") else "dot"]
        if re.fullmatch(r"[+-]?\d+,\d{1,2}", number) or re.fullmatch(r"[+-]?\d{1,3}(\.\d{3}){2,}", number):
            return NUMBER_STYLES["comma"]
    return NUMBER_STYLES["dot"]


def _strip_currency(text: str) -> tuple[str, str]:
    """The number part of a money value and the currency code written with it ('' if none)."""
    match = CURRENCY_AROUND.match(text)
    if not match:
        return text, ""
    before, after = match["before"], match["after"]
    if before and after:
        return text, ""
    marker = before or after or ""
    return match["number"], CURRENCY_SYMBOLS.get(marker, marker)


class NumberReader:
    """Reads integers, decimals and money amounts in one number style."""

    def __init__(self, style: NumberStyle):
        self.style = style

    def _normalise(self, number: str, original: str) -> str:
        if self.style.key == "dot":
            if NUMBER_DOT.match(number):
                return number.replace(",", "")
            if NUMBER_SPACE_DOT.match(number):
                return number.replace(" ", "")
        elif NUMBER_COMMA.match(number):
            return number.replace(".", "").replace(" ", "").replace(",", ".")
        raise CellError(f"'{original}' is not a number written as {self.style.label}")

    def decimal(self, text: str, *, places: int | None = None) -> Decimal:
        number, currency = _strip_currency(text)
        if currency:
            raise CellError(f"'{text}' has a currency; this field holds a plain number")
        return self._decimal(number, text, places)

    def _decimal(self, number: str, original: str, places: int | None) -> Decimal:
        try:
            value = Decimal(self._normalise(number.strip(), original))
        except InvalidOperation:
            raise CellError(f"'{original}' is not a number") from None
        if places is not None and value.as_tuple().exponent < -places:
            raise CellError(f"'{original}' has more than {places} decimal places")
        return value

    def money(self, text: str) -> tuple[Decimal, str]:
        """An amount and the currency code written with it ('' when none was)."""
        number, currency = _strip_currency(text)
        return self._decimal(number, text, 2), currency

    def integer(self, text: str) -> int:
        value = self._decimal(text, text, None)
        if value != value.to_integral_value():
            raise CellError(f"'{text}' is not a whole number")
        return int(value)


# ------------------------------------------------------------------ small types


def parse_boolean(text: str) -> bool:
    word = text.strip().casefold()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise CellError(f"'{text}' is not yes/no (expected true/false, yes/no or 1/0)")


def parse_email(text: str) -> str:
    value = text.strip().lower()
    if not EMAIL.match(value) or len(value) > 254:
        raise CellError(f"'{text}' is not an email address")
    return value


def parse_domain(text: str) -> str:
    """A company domain from a domain or website address: 'https://www.Acme.com/about' → 'acme.com'."""
    value = text.strip().lower()
    value = re.sub(r"^[a-z][a-z0-9+.-]*://", "", value)
    value = value.split("/", 1)[0].split("?", 1)[0].split(":", 1)[0]
    if value.startswith("www."):
        value = value[4:]
    if not re.fullmatch(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+", value):
        raise CellError(f"'{text}' is not a domain name or website address")
    return value


def normalise_label(text: str) -> str:
    """A label reduced for matching: 'Marketing Qualified Lead' and 'marketingqualifiedlead' agree."""
    return re.sub(r"[^0-9a-z]+", "", text.casefold())
