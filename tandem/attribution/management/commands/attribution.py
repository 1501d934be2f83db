"""`tandem attribution`: credit per campaign or channel under each attribution model.

    tandem attribution --model M --conversion C [--from DATE] [--to DATE] [--by campaign|channel]

prints the credit, value, cost and ROI of each campaign (or channel) from Tandem's own data;

    tandem attribution paths FILE [--model all|NAME] [--order K] [--format table|csv|json]

reads the path format of public attribution tools (`path;total_conversions;total_conversion_value;total_null`)
and prints each model's credit per channel.
"""

import datetime as dt
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from tandem.attribution.engine import MODEL_KEYS, AttributionSettings, attribute_all, model_catalogue
from tandem.attribution.markov import MAX_ORDER
from tandem.attribution.path_files import PathFileError, read_paths
from tandem.attribution.periods import PeriodError, period_parse
from tandem.attribution.selectors import CONVERSIONS
from tandem.lib.tabular_output import FORMATS, write_rows

MODEL_CHOICES = ("all", *MODEL_KEYS)


def number_text(value: float) -> str:
    """A figure with at most six decimals and no trailing zeros: 0.2, 40, 33.333333."""
    text = f"{round(float(value), 6):.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise CommandError(f"--half-life: expected a number of days above 0, got '{text}'.")
    return value


class Command(BaseCommand):
    help = "Attribution: credit per channel under every model (paths FILE reads a public path file)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model", choices=MODEL_CHOICES, default="all", help="One model, or all (default).")
        parser.add_argument("--conversion", choices=list(CONVERSIONS), help="What is attributed.")
        parser.add_argument("--from", dest="from_date", help="First day, YYYY-MM-DD (default: a year before --to).")
        parser.add_argument("--to", dest="to_date", help="Last day, YYYY-MM-DD (default: today).")
        parser.add_argument("--by", choices=("campaign", "channel"), default="campaign")
        parser.add_argument("--format", choices=FORMATS, default="table")
        actions = parser.add_subparsers(dest="action")
        paths = actions.add_parser(
            "paths",
            help="Read path;total_conversions;total_conversion_value;total_null lines and print credit per channel.",
        )
        paths.add_argument("file", help="The path file (channels separated by ' > ').")
        paths.add_argument("--model", choices=MODEL_CHOICES, default="all", help="One model, or all (default).")
        paths.add_argument("--order", type=int, default=1, help=f"Markov order, 1 to {MAX_ORDER} (default 1).")
        paths.add_argument("--half-life", default="7", help="Time decay half-life in days (default 7).")
        paths.add_argument("--format", choices=FORMATS, default="table")

    def handle(self, *args, **options):
        if options["action"] == "paths":
            self._paths(options)
        else:
            self._report(options)

    def _report(self, options) -> None:
        from tandem.attribution.reports import attribution_report

        if not options["conversion"]:
            raise CommandError(f"--conversion is required: one of {', '.join(CONVERSIONS)} (or use 'paths FILE').")
        try:
            start, end = period_parse(options["from_date"], options["to_date"], today=timezone.now().date())
        except PeriodError as error:
            raise CommandError(f"--{error.field}: {error.message}") from error
        models = None if options["model"] == "all" else [options["model"]]
        report = attribution_report(
            conversion=options["conversion"], start=start, end=end, models=models, with_closed_loop=False
        )
        rows = []
        for spec in report.models:
            for row in report.campaigns if options["by"] == "campaign" else report.channels:
                roi = row.roi(spec.key) if report.has_value else None
                rows.append(
                    {
                        "model": spec.key,
                        options["by"]: row.name,
                        "conversions": number_text(row.conversions[spec.key]),
                        "value": number_text(row.value[spec.key]),
                        "cost": number_text(row.cost),
                        "roi": number_text(roi) if roi is not None else "",
                    }
                )
        columns = ["model", options["by"], "conversions", "value", "cost", "roi"]
        write_rows(sys.stdout, rows, columns, options["format"])
        if options["format"] == "table":
            sys.stdout.write(
                f"\n{report.label}, {start:%Y-%m-%d} to {end - dt.timedelta(days=1):%Y-%m-%d}: "
                f"{number_text(report.conversions_total)} conversions in {report.journeys} journeys "
                f"({report.unattributed} without touches in the {report.policy.lookback_days}-day lookback).\n"
            )

    def _paths(self, options) -> None:
        if not 1 <= options["order"] <= MAX_ORDER:
            raise CommandError(f"--order: expected 1 to {MAX_ORDER}, got {options['order']}.")
        settings = AttributionSettings(half_life_days=_positive(options["half_life"]), markov_order=options["order"])
        path = Path(options["file"])
        try:
            with path.open(encoding="utf-8", newline="") as handle:
                journeys = read_paths(handle)
        except OSError as error:
            raise CommandError(f"{path}: cannot read the file: {error.strerror}.") from error
        except UnicodeDecodeError as error:
            raise CommandError(f"{path}: the file is not UTF-8 text ({error.reason}).") from error
        except PathFileError as error:
            raise CommandError(f"{path}:\n{error}") from error
        models = None if options["model"] == "all" else [options["model"]]
        credits = attribute_all(journeys, settings=settings, models=models)
        rows = [
            {
                "model": credit.model.key,
                "channel": row["channel"],
                "conversions": number_text(row["conversions"]),
                "value": number_text(row["value"]),
            }
            for credit in credits
            for row in credit.rows()
        ]
        write_rows(sys.stdout, rows, ["model", "channel", "conversions", "value"], options["format"])
        if options["format"] == "table":
            catalogue = model_catalogue(settings)
            sys.stdout.write("\nModels:\n")
            for credit in credits:
                spec = catalogue[credit.model.key]
                sys.stdout.write(f"  {spec.key}: {spec.weights} {spec.short_journeys}\n")
                if credit.removal_effects is not None:
                    effects = ", ".join(
                        f"{name} {number_text(effect)}"
                        for name, effect in zip(credit.channel_names, credit.removal_effects, strict=True)
                    )
                    sys.stdout.write(f"    removal effects: {effects}\n")
