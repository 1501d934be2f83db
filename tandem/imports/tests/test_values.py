import datetime as dt
from decimal import Decimal

import pytest

from tandem.imports.values import (
    NUMBER_STYLES,
    CellError,
    DateReader,
    NumberReader,
    detect_date_format,
    detect_number_style,
    parse_boolean,
    parse_domain,
    parse_email,
    unquote_formula,
)


def test_day_first_dates_are_detected_when_a_day_is_above_12():
    assert detect_date_format(["03/04/2025", "25/12/2024"]).key == "dmy"
    assert detect_date_format(["03/04/2025", "12/25/2024"]).key == "mdy"


def test_ambiguous_dates_follow_the_preferred_order():
    assert detect_date_format(["03/04/2025"], preferred_order="dmy").key == "dmy"
    assert detect_date_format(["03/04/2025"], preferred_order="mdy").key == "mdy"
    assert detect_date_format(["2025-04-03 10:00"]).key == "iso"


def test_a_date_outside_the_column_format_is_an_error_never_a_guess():
    reader = DateReader(detect_date_format(["12/25/2024"]))
    assert reader.date("12/25/2024") == dt.date(2024, 12, 25)
    with pytest.raises(CellError, match="'25/12/2024' is not a real date in the format MM/DD/YYYY"):
        reader.date("25/12/2024")
    with pytest.raises(CellError, match="'next week' is not a date in the format MM/DD/YYYY"):
        reader.date("next week")


def test_datetimes_keep_their_zone_or_take_the_mapping_zone():
    reader = DateReader(detect_date_format(["2025-01-15T10:30:00.000Z"]), time_zone="Europe/Berlin")
    assert reader.datetime("2025-01-15T10:30:00.000Z") == dt.datetime(2025, 1, 15, 10, 30, tzinfo=dt.UTC)
    local = reader.datetime("2025-01-15 10:30")
    assert local.utcoffset() == dt.timedelta(hours=1)
    us = DateReader(detect_date_format(["1/5/2025 3:04 PM"]))
    assert us.datetime("1/5/2025 3:04 PM").replace(tzinfo=None) == dt.datetime(2025, 1, 5, 15, 4)


def test_number_styles_are_detected_and_read():
    assert detect_number_style(["1,234.50", "99"]).key == "dot"
    assert detect_number_style(["1.234,50"]).key == "comma"
    assert detect_number_style(["12,5"]).key == "comma"
    dot, comma = NumberReader(NUMBER_STYLES["dot"]), NumberReader(NUMBER_STYLES["comma"])
    assert dot.decimal("1,234.50") == Decimal("1234.50")
    assert comma.decimal("1.234,50") == Decimal("1234.50")
    assert comma.integer("1 234") == 1234
    with pytest.raises(CellError, match="'1.234,50' is not a number written as 1,234.56"):
        dot.decimal("1.234,50")
    with pytest.raises(CellError, match="'3.5' is not a whole number"):
        dot.integer("3.5")
    with pytest.raises(CellError, match="more than 2 decimal places"):
        dot.decimal("1.234", places=2)


def test_money_keeps_the_currency_written_with_it():
    dot = NumberReader(NUMBER_STYLES["dot"])
    assert dot.money("$1,200.00") == (Decimal("1200.00"), "USD")
    assert dot.money("EUR 99.90") == (Decimal("99.90"), "EUR")
    assert dot.money("450") == (Decimal("450"), "")
    assert NumberReader(NUMBER_STYLES["comma"]).money("1.200,50 €") == (Decimal("1200.50"), "EUR")
    with pytest.raises(CellError):
        dot.money("about 5k")


def test_small_types():
    assert parse_boolean("Yes") is True
    assert parse_boolean("0") is False
    with pytest.raises(CellError, match="'maybe' is not yes/no"):
        parse_boolean("maybe")
    assert parse_email(" Ann@Acme.COM ") == "ann@acme.com"
    with pytest.raises(CellError, match="'ann@acme' is not an email address"):
        parse_email("ann@acme")
    assert parse_domain("https://www.Acme.com/about?x=1") == "acme.com"
    with pytest.raises(CellError):
        parse_domain("not a domain")


def test_the_quote_an_export_adds_before_a_formula_is_removed():
    assert unquote_formula("'=SUM(A1)") == "=SUM(A1)"
    assert unquote_formula("'+49 30 1234") == "+49 30 1234"
    assert unquote_formula("'quoted'") == "'quoted'"
