"""`tandem scoring`: rescore everyone from an engagement section, or print one person's ledger."""

import datetime as dt
import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from tandem.audit.actors import Actor
from tandem.crm.models import Person
from tandem.lib.tabular_output import FORMATS, write_rows
from tandem.scoring import selectors, services
from tandem.scoring.rules import ScoringRulesError, engagement_rules_parse


def _as_of(text: str | None) -> dt.datetime:
    if not text:
        return timezone.now()
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError as error:
        raise CommandError(f"--as-of: expected an ISO 8601 time, got '{text}'.") from error
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class Command(BaseCommand):
    help = "Rescore engagement from an engagement section (JSON), or print a person's score ledger."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        rescore = actions.add_parser("rescore", help="Rescore every person.")
        rescore.add_argument("--rules", required=True, help="JSON file holding the contract's engagement section.")
        rescore.add_argument("--contract-version", type=int, required=True)
        rescore.add_argument("--as-of", help="ISO time to score as of (default: now).")
        rescore.add_argument("--format", choices=FORMATS, default="table")
        ledger = actions.add_parser("ledger", help="Print one person's ledger.")
        ledger.add_argument("--person", type=int, required=True, help="The person's id.")
        ledger.add_argument("--rules", help="JSON file holding an engagement section (default: the contract in force).")
        ledger.add_argument("--as-of", help="ISO time to work the ledger out as of (default: now).")
        ledger.add_argument("--format", choices=FORMATS, default="table")

    def handle(self, *args, **options):
        if options["action"] == "rescore":
            self._rescore(options)
        else:
            self._ledger(options)

    def _rules(self, options):
        path = Path(options["rules"])
        try:
            section = json.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise CommandError(f"--rules: cannot read {path}: {error.strerror}.") from error
        except json.JSONDecodeError as error:
            raise CommandError(f"--rules: {path} is not JSON: {error.msg} at line {error.lineno}.") from error
        if isinstance(section, dict) and set(section) == {"engagement"}:
            section = section["engagement"]
        try:
            return engagement_rules_parse(section)
        except ScoringRulesError as error:
            raise CommandError(str(error)) from error

    def _rescore(self, options) -> None:
        rules = self._rules(options)
        run = services.scores_recompute_all(
            rules=rules,
            as_of=_as_of(options["as_of"]),
            contract_version=options["contract_version"],
            by=Actor.system("tandem scoring rescore"),
        )
        row = {
            "contract_version": run.contract_version,
            "as_of": run.as_of,
            "people_scored": run.people_scored,
            "people_changed": run.people_changed,
            "ledger_lines": run.ledger_lines,
            "seconds": run.seconds,
        }
        write_rows(sys.stdout, [row], list(row), options["format"])

    def _ledger(self, options) -> None:
        if not Person.objects.filter(pk=options["person"]).exists():
            raise CommandError(f"--person: there is no person with id {options['person']}.")
        rules = self._rules(options) if options["rules"] else None
        ledger = selectors.person_score_ledger(person_id=options["person"], now=_as_of(options["as_of"]), rules=rules)
        columns = ["rule_name", "touchpoint_type", "given_at", "points", "capped_by", "value_now"]
        rows = [
            {**{column: getattr(line, column) for column in columns}, "value_now": round(line.value_now, 4)}
            for line in ledger.lines
        ]
        write_rows(sys.stdout, rows, columns, options["format"])
        if options["format"] == "table":
            sys.stdout.write(
                f"Total now {ledger.total_now:.2f} -> {ledger.score_now} (stored {ledger.stored_score}, "
                f"contract v{ledger.contract_version})\n"
            )
