"""`tandem clv`: fit the lifetime-value models on a file or on the workspace, and store predictions."""

import datetime as dt
import json
import sys

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tandem.audit.actors import Actor
from tandem.clv import engine, services
from tandem.clv.summary import (
    FileError,
    read_summary,
    read_transactions,
    summarize_transactions,
    summary_column_names,
)

FIT_FORMATS = ("table", "json")


class Command(BaseCommand):
    help = "Fit BG/NBD and Gamma-Gamma lifetime-value models (on a file or the won deals) and store CLV."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        fit = actions.add_parser(
            "fit",
            help="Fit on a transactions or summary file (printed only), or on the won deals (stored as a new version).",
        )
        source = fit.add_mutually_exclusive_group()
        source.add_argument("--transactions", help="File of customer id, date and amount, one purchase per row.")
        source.add_argument(
            "--summary", help="One row per customer: frequency, recency, T[, monetary_value] or x, t_x, T[, zbar]."
        )
        fit.add_argument("--calibration-end", help="Last day (YYYY-MM-DD) of the calibration period.")
        fit.add_argument("--unit", choices=["weeks", "days"], default="weeks")
        fit.add_argument("--customer-column", help="Column (name or 1-based position) of the customer id.")
        fit.add_argument("--date-column", help="Column (name or 1-based position) of the purchase date.")
        fit.add_argument("--amount-column", help="Column (name or 1-based position) of the amount.")
        fit.add_argument("--format", choices=FIT_FORMATS, default="table")
        predict = actions.add_parser("predict", help="Compute and store every account's and person's CLV.")
        predict.add_argument("--horizon-months", type=int, default=services.DEFAULT_HORIZON_MONTHS)
        predict.add_argument(
            "--discount-rate", type=float, default=services.DEFAULT_MONTHLY_DISCOUNT_RATE, help="Monthly, e.g. 0.01."
        )
        predict.add_argument("--format", choices=FIT_FORMATS, default="table")

    def handle(self, *args, **options):
        if options["action"] == "fit":
            if options["transactions"] or options["summary"]:
                result = self._fit_file(options)
            else:
                result = self._fit_workspace(options)
        else:
            result = self._predict(options)
        self._print(result, options["format"])

    def _print(self, result: dict, output_format: str) -> None:
        if output_format == "json":
            sys.stdout.write(json.dumps(result, indent=2) + "\n")
            return
        for key, value in result.items():
            if isinstance(value, dict):
                sys.stdout.write(f"{key}:\n")
                for name, inner in value.items():
                    sys.stdout.write(f"  {name:<16} {inner}\n")
            else:
                sys.stdout.write(f"{key:<18} {value}\n")

    # -- a file ---------------------------------------------------------------------------------

    def _fit_file(self, options) -> dict:
        if options["transactions"]:
            if not options["calibration_end"]:
                raise CommandError("--calibration-end is required with --transactions (YYYY-MM-DD).")
            try:
                end = dt.date.fromisoformat(options["calibration_end"])
            except ValueError:
                raise CommandError(
                    f"--calibration-end: expected a date YYYY-MM-DD, got '{options['calibration_end']}'."
                ) from None
            try:
                ids, days, amounts = read_transactions(
                    options["transactions"],
                    customer_column=options["customer_column"],
                    date_column=options["date_column"],
                    amount_column=options["amount_column"],
                )
            except FileError as error:
                raise CommandError(f"--transactions: {error}") from error
            summary = summarize_transactions(ids, days, amounts, calibration_end=end, unit=options["unit"])
            if not summary.customer_ids:
                raise CommandError(f"--transactions: no purchase on or before {end.isoformat()}.")
            names = {"frequency": "frequency", "recency": "recency", "T": "T", "monetary_value": "amount"}

            def where(row):
                return f"customer {summary.customer_ids[row]}"
        else:
            try:
                summary = read_summary(options["summary"])
                names = summary_column_names(options["summary"])
            except FileError as error:
                raise CommandError(f"--summary: {error}") from error

            def where(row):
                return f"line {row + 2} (customer {summary.customer_ids[row]})"

        try:
            purchases = engine.bgnbd_fit(summary.frequency, summary.recency, summary.T)
        except engine.SummaryError as error:
            field = names.get(error.field, error.field)
            raise CommandError(f"{where(error.row)}: column '{field}' {error.rule}.") from error
        result = {
            "customers": len(summary.customer_ids),
            "repeat_customers": int((summary.frequency > 0).sum()),
            "unit": options["unit"] if options["transactions"] else "as in the file",
            "bgnbd": {
                **{name: round(value, 6) for name, value in purchases.parameters.as_dict().items()},
                "log_likelihood": round(purchases.log_likelihood, 4),
                "converged": purchases.converged,
            },
        }
        if summary.monetary_value is not None:
            bad = ~np.isfinite(summary.monetary_value) | (summary.monetary_value < 0)
            if bad.any():
                row = int(np.argmax(bad))
                raise CommandError(f"{where(row)}: column '{names['monetary_value']}' must be a number >= 0.")
            spenders = (summary.frequency > 0) & (summary.monetary_value > 0)
            if spenders.sum() >= services.MIN_REPEAT_BUYERS:
                spend = engine.gamma_gamma_fit(summary.frequency[spenders], summary.monetary_value[spenders])
                result["gamma_gamma"] = {
                    **{name: round(value, 6) for name, value in spend.parameters.as_dict().items()},
                    "log_likelihood": round(spend.log_likelihood, 4),
                    "customers": spend.customers,
                    "converged": spend.converged,
                }
        return result

    # -- the workspace --------------------------------------------------------------------------

    def _fit_workspace(self, options) -> dict:
        for flag in ("calibration_end", "customer_column", "date_column", "amount_column"):
            if options[flag] and flag != "calibration_end":
                raise CommandError(f"--{flag.replace('_', '-')} applies only with --transactions.")
        end = None
        if options["calibration_end"]:
            try:
                end = dt.date.fromisoformat(options["calibration_end"])
            except ValueError:
                raise CommandError(
                    f"--calibration-end: expected a date YYYY-MM-DD, got '{options['calibration_end']}'."
                ) from None
        try:
            fit = services.clv_fit_create(by=Actor.system("tandem clv fit"), unit=options["unit"], calibration_end=end)
        except services.ClvDataError as error:
            raise CommandError(f"Cannot fit on the won deals: {error}") from error
        return _fit_summary(fit)

    def _predict(self, options) -> dict:
        by = Actor.system("tandem clv predict")
        try:
            fit = services.clv_values_store(
                by=by, horizon_months=options["horizon_months"], monthly_discount_rate=options["discount_rate"]
            )
        except services.ClvDataError as error:
            raise CommandError(f"Cannot predict: {error}") from error
        return {
            **_fit_summary(fit),
            "horizon_months": fit.horizon_months,
            "monthly_discount_rate": fit.monthly_discount_rate,
            "values_stored": fit.values_stored,
        }


def _fit_summary(fit) -> dict:
    return {
        "version": fit.version,
        "customers": fit.customers,
        "repeat_customers": fit.repeat_customers,
        "unit": fit.unit,
        "calibration_end": fit.calibration_end.isoformat(),
        "bgnbd": {
            "r": round(fit.r, 6),
            "alpha": round(fit.alpha, 6),
            "a": round(fit.a, 6),
            "b": round(fit.b, 6),
            "log_likelihood": round(fit.bgnbd_log_likelihood, 4),
        },
        "gamma_gamma": {
            "p": round(fit.p, 6),
            "q": round(fit.q, 6),
            "gamma": round(fit.gamma, 6),
            "log_likelihood": round(fit.gamma_gamma_log_likelihood, 4),
            "customers": fit.gamma_gamma_customers,
        },
    }
