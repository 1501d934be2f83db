"""`tandem manage scorecard`: rebuild what the scorecard keeps besides the record.

    tandem manage scorecard rollup                                   # the analysis views' stage-entry rollup
    tandem manage scorecard pipeline-history [--from DATE] [--until DATE]

`pipeline-history` derives the daily pipeline snapshots of past days from the opportunities' stage
history (by default from the first recorded stage change to the day before the first snapshot taken on
its day); both are safe to run again.
"""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tandem.analytics import services


def _day(text: str | None, option: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{option}: expected a date as YYYY-MM-DD, got '{text[:30]}'.") from None


class Command(BaseCommand):
    help = "Rebuild the scorecard's stage-entry rollup, or past pipeline snapshots from opportunity stage history."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        actions.add_parser("rollup", help="Rebuild the stage-entry rollup the analysis views read.")
        history = actions.add_parser("pipeline-history", help="Rebuild past daily pipeline snapshots.")
        history.add_argument("--from", dest="start", help="First day, YYYY-MM-DD.")
        history.add_argument("--until", help="Last day, YYYY-MM-DD (inclusive).")

    def handle(self, *args, **options):
        if options["action"] == "rollup":
            rows = services.stage_entries_rebuild()
            self.stdout.write(f"Stage-entry rollup rebuilt: {rows} entries.\n")
            return
        start, until = _day(options.get("start"), "--from"), _day(options.get("until"), "--until")
        if start and until and until < start:
            raise CommandError("--until: the last day must not come before --from.")
        days = services.pipeline_snapshots_rebuild(start=start, until=until)
        self.stdout.write(f"Pipeline snapshots rebuilt for {days} days from the opportunities' stage history.\n")
