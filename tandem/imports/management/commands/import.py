"""`tandem import KIND FILE`: import a CSV or XLSX file with a progress bar and a row-level report.

Exit codes: 0 every row was imported; 1 some rows were rejected (the report's path is printed);
2 the file (or the mapping) could not be read at all, and nothing was written.
"""

import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from tandem.audit.actors import Actor
from tandem.imports import bulkload
from tandem.imports.fields import KINDS
from tandem.imports.mapping import PRESETS, Mapping, MappingError
from tandem.imports.models import ImportRun, LoadPath, SavedMapping
from tandem.imports.reading import UnreadableFileError
from tandem.imports.services import (
    BATCH_SIZE,
    import_run_create,
    import_run_execute,
    import_run_queue,
    saved_mapping_save,
)
from tandem.lib.tabular_output import FORMATS, write_rows


class Command(BaseCommand):
    help = "Import accounts, people, opportunities, touchpoints or users from a CSV or XLSX file."
    # The system checks load every URL and API module, which an import never uses: a second of start-up.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=KINDS)
        parser.add_argument("file", nargs="?", default="")
        parser.add_argument(
            "--mapping",
            default="auto",
            help="auto (by header name), hubspot, salesforce, a mapping JSON file, or a saved mapping's name.",
        )
        parser.add_argument("--encoding", default="", help="The file's encoding, if detection gets it wrong.")
        parser.add_argument("--delimiter", default="", help="The CSV delimiter, if detection gets it wrong.")
        parser.add_argument("--sheet", default="", help="The worksheet of an XLSX file (default: the first).")
        parser.add_argument("--date-order", choices=["mdy", "dmy"], help="How to read 03/04/2025 when unclear.")
        parser.add_argument("--allow-backward", action="store_true", help="Let the file move records' stages backward.")
        parser.add_argument(
            "--no-create-accounts",
            action="store_true",
            help="Reject people whose company matches no account instead of creating the account.",
        )
        parser.add_argument("--save-mapping", default="", metavar="NAME", help="Keep the mapping under this name.")
        parser.add_argument("--queue", action="store_true", help="Run on the worker; print the run id and return.")
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
        parser.add_argument("--format", choices=FORMATS, default="table", help="How to print the summary.")
        parser.add_argument(
            "--resume",
            type=int,
            metavar="RUN",
            help="Continue import #RUN from its checkpoint instead of starting one (no FILE), e.g. to finish "
            "a bulk load whose finishing failed.",
        )

    def handle(self, *args, **options):
        kind = options["kind"]
        if options["resume"]:
            run = ImportRun.objects.filter(pk=options["resume"], kind=kind).first()
            if run is None:
                raise CommandError(f"There is no import #{options['resume']} of {kind}.", returncode=2)
            run = self._execute(run, options["batch_size"], show_progress=options["format"] == "table")
            self._finish(run, options["format"])
            return
        if not options["file"]:
            raise CommandError("Name the FILE to import (or --resume RUN).", returncode=2)
        try:
            mapping = self._mapping(options["mapping"], kind)
            if options["date_order"]:
                mapping.date_order = options["date_order"]
            if options["allow_backward"]:
                mapping.allow_backward = True
            if options["no_create_accounts"]:
                mapping.create_accounts = False
            mapping.validate()
            run = import_run_create(
                by=Actor.importer(label="command line"),
                kind=kind,
                path=options["file"],
                mapping=mapping,
                encoding=options["encoding"],
                delimiter=options["delimiter"],
                sheet=options["sheet"],
            )
        except (UnreadableFileError, MappingError) as error:
            raise CommandError(f"{options['file']}: {error}. Nothing was imported.", returncode=2) from None
        if options["save_mapping"]:
            saved_mapping_save(by=Actor.importer(label="command line"), name=options["save_mapping"], mapping=mapping)
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.", returncode=2)
        if options["queue"]:
            run = import_run_queue(run=run)
            self.stdout.write(f"Queued import #{run.pk}; the worker runs it (status: {run.get_status_display()}).")
            return
        if options["format"] == "table":
            self.stderr.write(f"Importing {kind} from {run.original_filename} as import #{run.pk}")
        run = self._execute(run, options["batch_size"], show_progress=options["format"] == "table")
        self._finish(run, options["format"])

    def _finish(self, run, output_format: str) -> None:
        self._summary(run, output_format)
        if run.status == "failed":
            raise CommandError(f"The import failed: {run.failure}", returncode=2)
        if run.rejected_count:
            sys.exit(1)

    def _mapping(self, value: str, kind: str) -> Mapping:
        if value in PRESETS:
            return Mapping(kind=kind, preset=value)
        if Path(value).is_file():
            return Mapping.from_file(value, kind=kind)
        saved = SavedMapping.objects.filter(kind=kind, name=value).first()
        if saved is not None:
            return Mapping.from_dict(saved.mapping, kind=kind)
        raise MappingError(f"--mapping: '{value}' is not a preset ({', '.join(PRESETS)}), a file or a saved mapping")

    def _execute(self, run, batch_size: int, *, show_progress: bool):
        bar = None
        if show_progress:
            from tqdm import tqdm

            is_bytes = run.file_format == "csv"
            bar = tqdm(
                total=run.progress_total or None,
                unit="B" if is_bytes else " rows",
                unit_scale=is_bytes,
                file=sys.stderr,
                desc=f"import #{run.pk}",
                dynamic_ncols=True,
            )

        def progress(current):
            if bar is not None:
                bar.update(max(0, current.position - bar.n))
                finishing = " — finishing: loading the new records, rebuilding indexes" if current.phase else ""
                bar.set_postfix_str(
                    f"{current.rows_read:,} rows, {current.rejected_count:,} rejected{finishing}",
                    refresh=bool(finishing),
                )

        try:
            return import_run_execute(run_id=run.pk, progress=progress, batch_size=batch_size)
        finally:
            if bar is not None:
                bar.close()

    def _summary(self, run, output_format: str) -> None:
        counts = run.counts
        if output_format == "json":
            data = {
                "import_run": run.pk,
                "status": run.status,
                **counts,
                "notes": run.notes,
                "error_file": run.error_file if run.rejected_count else None,
                "load_path": run.load_path,
            }
            if run.load_path == LoadPath.BULK and bulkload.last_step_seconds:
                # Finished by this process: how long each step of the bulk load's finishing took.
                data["finishing_seconds"] = dict(bulkload.last_step_seconds)
            self.stdout.write(json.dumps(data, indent=2))
            return
        rows = [{"outcome": name.replace("_", " "), "rows": value} for name, value in counts.items()]
        rows += [{"outcome": name.replace("_", " "), "rows": value} for name, value in sorted(run.notes.items())]
        write_rows(self.stdout, rows, ["outcome", "rows"], output_format)
        if run.rejected_count:
            self.stdout.write(f"{run.rejected_count:,} rows were rejected; each is listed with its reason in:")
            self.stdout.write(f"  {run.error_file}")
