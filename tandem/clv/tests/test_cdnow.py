"""The published CDNOW results (Fader, Hardie & Lee 2005; Fader & Hardie's Gamma-Gamma note)."""

import datetime as dt

import numpy as np
import pytest

from tandem.clv import engine
from tandem.clv.summary import read_summary, read_transactions, summarize_transactions
from tandem.clv.tests.datasets import cdnow_file

CALIBRATION_END = dt.date(1997, 9, 30)  # 39 weeks after the cohort's first day, 1997-01-01


def significant(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}g}"


@pytest.fixture(scope="module")
def cdnow_summary():
    return read_summary(cdnow_file("cdnow_customers_summary_with_transactions.csv"))


def test_bgnbd_reproduces_the_published_cdnow_parameters(cdnow_summary):
    fit = engine.bgnbd_fit(cdnow_summary.frequency, cdnow_summary.recency, cdnow_summary.T)

    assert fit.customers == 2357
    assert fit.converged
    parameters = fit.parameters
    assert [significant(v) for v in (parameters.r, parameters.alpha, parameters.a, parameters.b)] == [
        "0.243",
        "4.41",
        "0.793",
        "2.43",
    ]
    assert round(parameters.alpha, 3) == 4.414
    assert round(parameters.b, 3) == 2.426
    assert round(fit.log_likelihood, 1) == -9582.4


def test_gamma_gamma_reproduces_the_published_cdnow_parameters(cdnow_summary):
    repeat = cdnow_summary.frequency > 0
    fit = engine.gamma_gamma_fit(cdnow_summary.frequency[repeat], cdnow_summary.monetary_value[repeat])

    assert fit.customers == 946
    assert fit.converged
    assert [significant(v) for v in (fit.parameters.p, fit.parameters.q, fit.parameters.gamma)] == [
        "6.25",
        "3.74",
        "15.4",
    ]


def test_hardies_worked_example_of_expected_purchases(cdnow_summary):
    fit = engine.bgnbd_fit(cdnow_summary.frequency, cdnow_summary.recency, cdnow_summary.T)

    value = engine.expected_purchases(fit.parameters, 39.0, 2, 30.43, 38.86)

    assert round(float(value), 3) == 1.226


def test_summaries_from_the_cdnow_transactions_match_the_papers_summary(cdnow_summary):
    ids, days, amounts = read_transactions(cdnow_file("CDNOW_sample.txt"), customer_column="2")

    summary = summarize_transactions(ids, days, amounts, calibration_end=CALIBRATION_END, unit="weeks")

    assert len(summary.customer_ids) == 2357
    position = {customer: index for index, customer in enumerate(summary.customer_ids)}
    order = np.array([position[customer.zfill(4)] for customer in cdnow_summary.customer_ids])
    np.testing.assert_array_equal(summary.frequency[order], cdnow_summary.frequency)
    np.testing.assert_allclose(summary.recency[order], cdnow_summary.recency, atol=0.005)
    np.testing.assert_allclose(summary.T[order], cdnow_summary.T, atol=0.005)
    # The paper's file rounds mean spend to cents.
    np.testing.assert_allclose(summary.monetary_value[order], cdnow_summary.monetary_value, atol=0.0051)


def test_the_full_cdnow_file_is_read_with_its_columns_detected():
    ids, days, amounts = read_transactions(cdnow_file("CDNOW_master.txt"))

    assert len(ids) == 69659
    assert len(set(ids)) == 23570
    assert (ids[0], dt.date.fromordinal(days[0]), amounts[0]) == ("00001", dt.date(1997, 1, 1), 11.77)
