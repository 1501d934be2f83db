"""Background imports: thin entry points that call the import services."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from tandem.imports.services import import_run_execute, import_runs_resume_stale


@db_task()
def run_import(run_id: int) -> None:
    """Import a run's file from its checkpoint; running it twice is harmless."""
    import_run_execute(run_id=run_id)


@db_periodic_task(crontab(minute="*"))
def resume_stalled_imports() -> None:
    """Queue again any run whose worker died mid-file, so the file still finishes."""
    import_runs_resume_stale()


@db_periodic_task(crontab(minute="17"))
def clean_import_uploads() -> None:
    """Hourly: discard wizard uploads nobody ran, and stored import files past their retention."""
    from tandem.imports.uploads import uploads_clean

    uploads_clean()
