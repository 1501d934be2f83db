import datetime as dt

import numpy as np
import pytest

from tandem.clv.summary import FileError, read_summary, read_transactions, summarize_transactions


def test_summary_counts_repeat_purchase_days_and_averages_their_value():
    summary = summarize_transactions(
        ["b", "a", "a", "a", "a", "b", "c"],
        [
            dt.date(2025, 1, 8),
            dt.date(2025, 1, 1),
            dt.date(2025, 1, 1),
            dt.date(2025, 1, 15),
            dt.date(2025, 1, 29),
            dt.date(2025, 3, 1),
            dt.date(2025, 2, 5),
        ],
        [5.0, 10.0, 4.0, 20.0, 30.0, 99.0, 7.0],
        calibration_end=dt.date(2025, 2, 26),
        unit="weeks",
    )

    assert summary.customer_ids == ["a", "b", "c"]
    # a: first day Jan 1 (two purchases), repeats on Jan 15 and Jan 29; b's March purchase is after the end.
    np.testing.assert_array_equal(summary.frequency, [2, 0, 0])
    np.testing.assert_array_equal(summary.recency, [4.0, 0.0, 0.0])
    np.testing.assert_array_equal(summary.T, [8.0, 7.0, 3.0])
    np.testing.assert_array_equal(summary.monetary_value, [25.0, 0.0, 0.0])


def test_summary_in_days_without_amounts():
    summary = summarize_transactions(
        ["a", "a"], [dt.date(2025, 1, 1), dt.date(2025, 1, 4)], None, calibration_end=dt.date(2025, 1, 11), unit="days"
    )
    assert (summary.frequency[0], summary.recency[0], summary.T[0], summary.monetary_value) == (1, 3, 10, None)


def test_transactions_file_with_named_columns(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(
        "Order,Buyer,Placed On,Total\n1,x@example.com,2025-01-02T10:00:00,12.5\n2,y@example.com,2025/01/03,3\n"
    )

    ids, days, amounts = read_transactions(path, customer_column="Buyer", date_column="placed on", amount_column="4")

    assert ids == ["x@example.com", "y@example.com"]
    assert [dt.date.fromordinal(d) for d in days] == [dt.date(2025, 1, 2), dt.date(2025, 1, 3)]
    assert amounts == [12.5, 3.0]


def test_transactions_file_errors_name_the_line_and_column(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("customer_id,date,amount\n1,2025-01-02,12.5\n2,2025-02-30,3\n")
    with pytest.raises(FileError, match=r"^line 3: column 'date' has '2025-02-30', not a date"):
        read_transactions(path)

    path.write_text("customer_id,date,amount\n1,2025-01-02,12.5\n2,2025-02-03,three\n")
    with pytest.raises(FileError, match=r"^line 3: column 'amount' has 'three', not a number"):
        read_transactions(path)

    path.write_text("who,when\n1,2025-01-02\n")
    with pytest.raises(FileError, match=r"no customer column found \(columns: who, when\)"):
        read_transactions(path)
    with pytest.raises(FileError, match=r"no date column named 'day' \(columns: who, when\)"):
        read_transactions(path, customer_column="who", date_column="day")


def test_summary_file_in_either_naming(tmp_path):
    lifetimes = tmp_path / "lifetimes.csv"
    lifetimes.write_text("customer_id,frequency,recency,T,monetary_value\nA,2,30.43,38.86,22.35\nB,0,0,38.86,0\n")
    hardie = tmp_path / "hardie.csv"
    hardie.write_text("ID,x,t_x,T\n1,2,30.43,38.86\n")

    first = read_summary(lifetimes)
    second = read_summary(hardie)

    assert first.customer_ids == ["A", "B"]
    np.testing.assert_array_equal(first.monetary_value, [22.35, 0])
    assert (second.customer_ids, second.frequency[0], second.recency[0], second.T[0]) == (["1"], 2, 30.43, 38.86)
    assert second.monetary_value is None


def test_summary_file_errors(tmp_path):
    path = tmp_path / "summary.csv"
    path.write_text("id,freq,rec\n1,2,3\n")
    with pytest.raises(FileError, match="needs columns frequency, recency, T"):
        read_summary(path)
    path.write_text("x,t_x,T\n2,30,38\n1,ten,38\n")
    with pytest.raises(FileError, match=r"^line 3: column 't_x' has 'ten', not a number$"):
        read_summary(path)
