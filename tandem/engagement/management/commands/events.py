"""`tandem events`: touchpoint storage upkeep from the command line."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from tandem.audit.actors import Actor
from tandem.engagement import partitions, services


class Command(BaseCommand):
    help = "Touchpoint storage: events partitions (list and make the coming months), events retention [--months N]."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        actions.add_parser("partitions", help="Make this month's and the next two months' partitions, then list them.")
        retention = actions.add_parser("retention", help="Remove touchpoints older than the retention setting.")
        retention.add_argument(
            "--months", type=int, help="Months to keep (default TANDEM_TOUCHPOINT_RETENTION_MONTHS; 0 keeps all)."
        )

    def handle(self, *args, **options):
        if options["action"] == "partitions":
            if not partitions.is_partitioned():
                self.stdout.write("Touchpoints are one table here (SQLite): there are no partitions.")
                return
            for name in partitions.months_ahead_create(now=timezone.now()):
                self.stdout.write(f"Made {name}")
            for name, rows in partitions.partition_list():
                self.stdout.write(f"{name}\t~{rows} rows")
            return
        months = options["months"] if options["months"] is not None else settings.TANDEM_TOUCHPOINT_RETENTION_MONTHS
        if months < 0:
            raise CommandError("months: expected 0 (keep everything) or more.")
        if months == 0:
            self.stdout.write("Retention is off (0 months): every touchpoint is kept.")
            return
        result = services.touchpoints_retention_apply(by=Actor.system("tandem events retention"), months=months)
        self.stdout.write(
            f"Removed {result.touchpoints_deleted} touchpoints before {result.cutoff:%Y-%m-%d}"
            + (f" ({len(result.partitions_dropped)} partitions dropped)" if result.partitions_dropped else "")
            + "."
        )
