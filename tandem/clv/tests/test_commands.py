"""`tandem clv fit` on files and on the workspace, and `tandem clv predict`."""

import datetime as dt
import json

import pytest
import time_machine
from django.core.management import CommandError, call_command

from tandem.clv import engine
from tandem.clv.models import ClvFit, CustomerValue
from tandem.clv.tests.datasets import cdnow_file
from tandem.clv.tests.factories import make_history

SUMMARY = "customer_id,frequency,recency,T,monetary_value\n" + "\n".join(
    [
        "a,2,30.43,38.86,22.35",
        "b,1,1.71,38.86,11.77",
        "c,0,0,38.86,0",
        "d,0,0,38.86,0",
        "e,0,0,38.86,0",
        "f,3,20,38.86,40.5",
        "g,1,30,38.86,80",
        "h,0,0,38.86,0",
        "i,5,35,38.86,15",
        "j,0,0,38.86,0",
    ]
)


def test_fit_a_summary_file_prints_the_parameters_as_json(tmp_path, capsys):
    path = tmp_path / "summary.csv"
    path.write_text(SUMMARY)

    call_command("clv", "fit", "--summary", str(path), "--format", "json")

    result = json.loads(capsys.readouterr().out)
    fit = engine.bgnbd_fit([2, 1, 0, 0, 0, 3, 1, 0, 5, 0], [30.43, 1.71, 0, 0, 0, 20, 30, 0, 35, 0], [38.86] * 10)
    assert (result["customers"], result["repeat_customers"]) == (10, 5)
    assert result["bgnbd"]["r"] == round(fit.parameters.r, 6)
    assert result["bgnbd"]["log_likelihood"] == round(fit.log_likelihood, 4)
    assert result["gamma_gamma"]["customers"] == 5


def test_fit_the_cdnow_summary_in_hardies_naming(capsys):
    call_command(
        "clv", "fit", "--summary", str(cdnow_file("cdnow_customers_summary_with_transactions.csv")), "--format", "json"
    )
    result = json.loads(capsys.readouterr().out)
    bgnbd, spend = result["bgnbd"], result["gamma_gamma"]
    assert [f"{bgnbd[name]:.3g}" for name in ("r", "alpha", "a", "b")] == ["0.243", "4.41", "0.793", "2.43"]
    assert round(bgnbd["log_likelihood"], 1) == -9582.4
    assert [f"{spend[name]:.3g}" for name in ("p", "q", "gamma")] == ["6.25", "3.74", "15.4"]


def test_fit_the_cdnow_transactions_with_a_calibration_end(capsys):
    call_command(
        "clv",
        "fit",
        "--transactions",
        str(cdnow_file("CDNOW_sample.txt")),
        "--customer-column",
        "2",
        "--calibration-end",
        "1997-09-30",
        "--unit",
        "weeks",
        "--format",
        "json",
    )
    result = json.loads(capsys.readouterr().out)
    assert (result["customers"], result["repeat_customers"]) == (2357, 946)
    assert round(result["bgnbd"]["log_likelihood"], 1) == -9582.4
    assert f"{result['bgnbd']['r']:.3g}" == "0.243"


def test_a_bad_summary_row_is_named_by_line_and_column(tmp_path):
    path = tmp_path / "summary.csv"
    path.write_text("ID,x,t_x,T\n1,2,30.43,38.86\n2,1,40,38.86\n")
    with pytest.raises(CommandError, match=r"^line 3 \(customer 2\): column 't_x' must not be greater than T\.$"):
        call_command("clv", "fit", "--summary", str(path))
    path.write_text("ID,x,t_x,T,zbar\n1,2,30.43,38.86,-4\n")
    with pytest.raises(CommandError, match=r"^line 2 \(customer 1\): column 'zbar' must be a number >= 0\.$"):
        call_command("clv", "fit", "--summary", str(path))


def test_bad_transactions_are_named_by_line_and_column(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("customer_id,date,amount\n1,2025-01-02,12.5\n2,yesterday,3\n")
    with pytest.raises(CommandError, match=r"^--transactions: line 3: column 'date' has 'yesterday', not a date"):
        call_command("clv", "fit", "--transactions", str(path), "--calibration-end", "2025-06-30")
    with pytest.raises(CommandError, match="--calibration-end is required with --transactions"):
        call_command("clv", "fit", "--transactions", str(path))
    with pytest.raises(CommandError, match="--calibration-end: expected a date YYYY-MM-DD, got '30/06/2025'"):
        call_command("clv", "fit", "--transactions", str(path), "--calibration-end", "30/06/2025")
    with pytest.raises(CommandError, match="--transactions: file not found"):
        call_command("clv", "fit", "--transactions", str(tmp_path / "missing.csv"), "--calibration-end", "2025-06-30")


@pytest.mark.django_db
def test_fit_and_predict_on_the_workspace(cast, capsys):
    make_history()
    with time_machine.travel(dt.datetime(2026, 6, 30, 12, tzinfo=dt.UTC), tick=False):
        call_command("clv", "fit", "--format", "json")
        fitted = json.loads(capsys.readouterr().out)
        call_command("clv", "predict", "--horizon-months", "24", "--format", "json")
        predicted = json.loads(capsys.readouterr().out)

    fit = ClvFit.objects.get()
    assert (fitted["version"], fitted["customers"], fitted["calibration_end"]) == (1, 12, "2026-06-30")
    assert fitted["bgnbd"]["r"] == round(fit.r, 6)
    assert (predicted["horizon_months"], predicted["values_stored"]) == (24, 24)
    assert CustomerValue.objects.count() == 24
    assert fit.fitted_by_label == "System: tandem clv fit"


@pytest.mark.django_db
def test_predict_without_history_says_why():
    with pytest.raises(CommandError, match="^Cannot predict: there is no lifetime value fit yet"):
        call_command("clv", "predict")
    with pytest.raises(CommandError, match="^Cannot fit on the won deals: 0 customers have a won deal"):
        call_command("clv", "fit")
    assert not ClvFit.objects.exists()
