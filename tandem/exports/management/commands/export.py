"""`tandem export`: write a list, with the list's filters, to CSV or XLSX."""

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from tandem.audit.actors import Actor
from tandem.crm.selectors import AccountFilters, OpportunityFilters, PersonFilters
from tandem.exports import services
from tandem.exports.models import ExportFormat, ExportKind
from tandem.exports.selectors import TouchpointFilters, check_filters, export_count, read_snapshot
from tandem.exports.writers import ExportTooLargeError
from tandem.lib.validation_messages import describe_validation_error
from tandem.users.models import User


def _owner_id(email: str | None) -> int | None:
    if not email:
        return None
    user = User.objects.filter(email__iexact=email.strip()).only("id").first()
    if user is None:
        raise CommandError(f"--owner: there is no user with the email '{email}'.")
    return user.pk


def iso_time(text: str) -> dt.datetime:
    """An ISO 8601 date or time from the command line; without an offset it is UTC."""
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _option_errors(error: ValidationError) -> str:
    """A filter's validation error, naming the command-line option instead of the field."""
    if not hasattr(error, "error_dict"):
        return describe_validation_error(error)
    return "; ".join(
        f"--{field.replace('_', '-')}: {' '.join(messages)}" for field, messages in error.message_dict.items()
    )


def _filters(kind: str, options: dict):
    owner = options.get("owner")
    if kind == ExportKind.PEOPLE:
        is_unowned = owner == "none"
        return PersonFilters(
            stages=options["stage"] or [],
            lead_status=options["lead_status"] or "",
            owner_id=None if is_unowned else _owner_id(owner),
            is_unowned=is_unowned,
            account_id=options["account"],
            search=options["search"] or "",
        )
    if kind == ExportKind.ACCOUNTS:
        return AccountFilters(
            search=options["search"] or "",
            owner_id=_owner_id(owner),
            industry=options["industry"] or "",
            region=options["region"] or "",
            is_target_account=True if options["target"] else None,
            icp_tier=options["icp_tier"],
        )
    if kind == ExportKind.OPPORTUNITIES:
        return OpportunityFilters(
            search=options["search"] or "",
            stages=options["stage"] or [],
            owner_id=_owner_id(owner),
            account_id=options["account"],
            is_open=options["is_open"],
            forecast_category=options["forecast_category"] or "",
        )
    return TouchpointFilters(
        person_id=options["person"],
        campaign_id=options["campaign"],
        type=options["type"] or "",
        channel=options["channel"] or "",
        occurred_from=options["since"],
        occurred_until=options["until"],
    )


def _file_format(out: str | None, requested: str | None) -> str:
    if requested:
        return requested
    if out is None:
        return ExportFormat.CSV
    suffix = Path(out).suffix.lower().lstrip(".")
    if suffix not in ExportFormat.values:
        raise CommandError(f"--out: cannot tell the format from '{out}'; name it .csv or .xlsx, or pass --format.")
    return suffix


class _TextSink:
    """Lets the CSV's bytes go to a text stream (as `call_command(stdout=StringIO())` passes)."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, data: bytes) -> None:
        self.stream.write(data.decode())

    def flush(self) -> None:
        self.stream.flush()


class Command(BaseCommand):
    help = "Export accounts, people, opportunities or touchpoints to CSV or XLSX, with the lists' filters."

    def add_arguments(self, parser: CommandParser):
        kinds = parser.add_subparsers(dest="kind", required=True, metavar="KIND")
        common = argparse.ArgumentParser(add_help=False)
        common.add_argument("--out", metavar="FILE", help="Write to FILE (default: CSV to standard output).")
        common.add_argument(
            "--format", choices=ExportFormat.values, help="csv or xlsx (default: from the file's extension)."
        )
        common.add_argument("--quiet", action="store_true", help="No progress bar or summary.")
        owned = argparse.ArgumentParser(add_help=False)
        owned.add_argument("--owner", metavar="EMAIL", help="Only records this user owns.")
        owned.add_argument("--search", help="The list's search: start of a name (or email, domain).")

        people = kinds.add_parser("people", parents=[common, owned], help="People, filtered like the people list.")
        people.add_argument("--stage", action="append", help="A lifecycle stage key, e.g. mql (repeatable).")
        people.add_argument("--lead-status", help="A lead status key, e.g. attempting.")
        people.add_argument("--account", type=int, metavar="ID", help="Only people of this account.")
        people.epilog = "--owner none exports the unowned people."

        accounts = kinds.add_parser("accounts", parents=[common, owned], help="Accounts, filtered like their list.")
        accounts.add_argument("--industry")
        accounts.add_argument("--region")
        accounts.add_argument("--target", action="store_true", help="Only target accounts.")
        accounts.add_argument("--icp-tier", type=int, metavar="N")

        opportunities = kinds.add_parser(
            "opportunities", parents=[common, owned], help="Opportunities, filtered like their list."
        )
        opportunities.add_argument("--stage", action="append", help="An opportunity stage key (repeatable).")
        opportunities.add_argument("--account", type=int, metavar="ID")
        status = opportunities.add_mutually_exclusive_group()
        status.add_argument("--open", dest="is_open", action="store_const", const=True, help="Only open deals.")
        status.add_argument("--closed", dest="is_open", action="store_const", const=False, help="Only closed deals.")
        opportunities.add_argument("--forecast-category", help="pipeline, best_case, commit, closed or omitted.")

        touchpoints = kinds.add_parser("touchpoints", parents=[common], help="Touchpoints.")
        touchpoints.add_argument("--person", type=int, metavar="ID")
        touchpoints.add_argument("--campaign", type=int, metavar="ID")
        touchpoints.add_argument("--type", help="A touchpoint type, e.g. page_view.")
        touchpoints.add_argument("--channel", help="A channel, e.g. paid_search.")
        touchpoints.add_argument("--since", type=iso_time, metavar="TIME", help="From this ISO date or time on.")
        touchpoints.add_argument("--until", type=iso_time, metavar="TIME", help="Before this ISO date or time.")

    def handle(self, *args, **options):
        kind = ExportKind(options["kind"])
        out = options["out"]
        file_format = _file_format(out, options["format"])
        if file_format == ExportFormat.XLSX and out is None:
            raise CommandError("--format xlsx needs --out FILE: a workbook is not written to the terminal.")
        filters = _filters(kind, options)
        by = Actor.system("tandem export")
        try:
            if out is None:
                result = self._to_stdout(by, kind, filters, options)
            else:
                progress_stream = None if options["quiet"] else options.get("stderr") or sys.stderr
                result = self._to_file(by, kind, filters, file_format, Path(out), progress_stream=progress_stream)
        except ValidationError as error:
            raise CommandError(_option_errors(error)) from None
        except (ExportTooLargeError, OSError) as error:
            raise CommandError(str(error)) from None
        if not options["quiet"]:
            summary = (
                f"Exported {result.row_count:,} {kind} in {result.seconds:.1f} s "
                f"({result.rows_per_second:,.0f} rows/s)" + (f" to {out}." if out else ".")
            )
            # With the CSV on standard output, the summary must not end up in it.
            (self.stdout if out else self.stderr).write(summary)

    def _to_stdout(self, by, kind, filters, options):
        stream = options.get("stdout") or sys.stdout
        stream.flush()
        binary = getattr(stream, "buffer", None) or _TextSink(stream)
        try:
            result = services.export_write(
                by=by, kind=kind, filters=filters, file_format=ExportFormat.CSV, target=binary
            )
            binary.flush()
            return result
        except BrokenPipeError:
            # The reader stopped early (`tandem export people | head`): stop quietly, as other tools do.
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
            raise SystemExit(1) from None

    def _to_file(self, by, kind, filters, file_format, path: Path, *, progress_stream):
        # Written next to the target and renamed at the end: a failed export leaves no half file.
        partial = path.with_name(f".{path.name}.partial")
        bar = None
        if progress_stream is not None:
            check_filters(kind, filters)
            with read_snapshot():
                total = export_count(kind, filters)
            bar = tqdm(total=total, unit=" rows", file=progress_stream, desc=f"Exporting {kind}")

        def progress(rows: int) -> None:
            bar.update(rows - bar.n)

        try:
            result = services.export_write(
                by=by, kind=kind, filters=filters, file_format=file_format, target=str(partial),
                progress=progress if bar else None,
            )  # fmt: skip
            os.replace(partial, path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        finally:
            if bar:
                bar.close()
        return result
