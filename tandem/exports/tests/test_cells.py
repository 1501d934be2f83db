"""How values become cells: formula neutralisation, ISO times, booleans, custom-field types."""

import datetime as dt
from decimal import Decimal

import pytest

from tandem.exports.cells import (
    BOOLEAN,
    DATE,
    DATETIME,
    JSON,
    NUMBER,
    TEXT,
    custom_cell,
    iso_datetime,
    neutralise,
    row_formatter,
)


@pytest.mark.parametrize(
    ("text", "cell"),
    [
        ("=SUM(A1)", "'=SUM(A1)"),
        ("+1", "'+1"),
        ("-cmd", "'-cmd"),
        ("@x", "'@x"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-5", "-5"),
        ("-12.50", "-12.50"),
        ("-1e5", "'-1e5"),
        ("-5 ", "'-5 "),
        ("-٣", "'-٣"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        ("'quoted", "'quoted"),
        ("", ""),
    ],
)
def test_text_a_spreadsheet_would_run_gets_a_leading_quote(text, cell):
    assert neutralise(text) == cell


def test_numbers_are_never_prefixed_even_as_text():
    formatted = row_formatter([NUMBER, NUMBER, NUMBER], [])

    assert formatted((-5, Decimal("-12.50"), 7)) == [-5, Decimal("-12.50"), 7]
    assert row_formatter([TEXT, TEXT], [])(("-5", "-12.50")) == ["-5", "-12.50"]


def test_a_row_is_formatted_by_column_kind():
    formatted = row_formatter([NUMBER, TEXT, TEXT, BOOLEAN, BOOLEAN, DATETIME, DATE, JSON, TEXT], [])
    at = dt.datetime(2025, 3, 4, 5, 6, 7, 891, tzinfo=dt.UTC)

    cells = formatted((1, "=cmd|' /C calc'!A0", None, True, False, at, dt.date(2025, 12, 31), {"a": [1, "é"]}, "ok"))

    assert cells == [
        1,
        "'=cmd|' /C calc'!A0",
        None,
        "true",
        "false",
        "2025-03-04T05:06:07.000891+00:00",
        "2025-12-31",
        '{"a": [1, "é"]}',
        "ok",
    ]


def test_missing_times_and_booleans_stay_empty():
    formatted = row_formatter([DATETIME, DATE, BOOLEAN, JSON], [])

    assert formatted((None, None, None, None)) == [None, None, None, None]


def test_custom_fields_become_one_cell_per_key_in_key_order():
    formatted = row_formatter([NUMBER], ["budget", "notes", "tier", "vip"])

    assert formatted((1, {"vip": True, "notes": "@home", "budget": -5})) == [1, -5, "'@home", None, "true"]
    assert formatted((2, {})) == [2, None, None, None, None]
    assert formatted((3, None)) == [3, None, None, None, None]


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (None, None),
        (True, "true"),
        (False, "false"),
        (-5, -5),
        (-12.5, -12.5),
        ("-cmd", "'-cmd"),
        ("-5", "-5"),
        ("text", "text"),
        (["a", 1], '["a", 1]'),
        ({"k": "v"}, '{"k": "v"}'),
    ],
)
def test_custom_field_values_keep_their_json_type(value, cell):
    assert custom_cell(value) == cell


@pytest.mark.parametrize(
    ("microsecond", "text"),
    [
        (0, "2025-03-04T05:06:07+00:00"),
        (500_000, "2025-03-04T05:06:07.5+00:00"),
        (120, "2025-03-04T05:06:07.00012+00:00"),
        (891, "2025-03-04T05:06:07.000891+00:00"),
    ],
)
def test_times_carry_their_fraction_of_a_second_without_trailing_zeros(microsecond, text):
    assert iso_datetime(dt.datetime(2025, 3, 4, 5, 6, 7, microsecond, tzinfo=dt.UTC)) == text
