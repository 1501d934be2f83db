"""A real worker killed mid-file: the run resumes from its checkpoint and imports every row exactly once.

A Huey consumer process takes the import off a Redis queue and is killed with SIGKILL once the run
has committed a few batches. A second consumer finishes the file after the product's resumer
(`import_runs_resume_stale`, run every minute by the worker) queues the stalled run again.
"""

import csv
import os
import signal
import subprocess
import uuid
from pathlib import Path

import pytest
from django.db.models import Count

from tandem.audit.models import AuditEntry
from tandem.core.tests.redis_support import (
    SharedDatabase,
    manage,
    redis_url,
    require_redis,
    start_consumer,
    wait_for,
)
from tandem.crm.models import Person, StageChange
from tandem.imports.models import ImportStatus
from tandem.imports.services import BATCH_SIZE, import_run_create

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

ROWS = 40_000
CHECKPOINTED_BATCHES = 2
WAIT_SECONDS = 240


def _run_state(database: SharedDatabase, run_id: int) -> tuple[str, int, int]:
    """(status, line_done, rows_read) as the workers last committed them."""
    return database.fetch_one("SELECT status, line_done, rows_read FROM imports_importrun WHERE id = %s", (run_id,))


def _people_file(path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Email", "First Name", "Last Name", "Job Title", "Lifecycle Stage"])
        for number in range(ROWS):
            writer.writerow([f"person{number}@example.org", f"First{number}", f"Last{number}", "Buyer", "Lead"])
    return path


def test_a_killed_worker_resumes_the_file_without_losing_or_doubling_rows(cast, tmp_path, settings):
    url = redis_url()
    client = require_redis(url)
    settings.DATA_DIR = tmp_path / "data"
    path = _people_file(tmp_path / "people.csv")
    run = import_run_create(by=cast.revops, kind="people", path=path)
    database = SharedDatabase(tmp_path)
    queue_name = f"tandemresume{uuid.uuid4().hex}"
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tandem.settings",
        "DATABASE_URL": database.url,
        "REDIS_URL": url,
        "TANDEM_HUEY_NAME": queue_name,
        "TANDEM_DATA_DIR": str(settings.DATA_DIR),
    }
    log = tmp_path / "consumers.log"
    consumers = []
    try:
        consumers.append(start_consumer(environment, log, workers=1))
        manage(
            environment,
            "from tandem.imports.models import ImportRun\n"
            "from tandem.imports.services import import_run_queue\n"
            f"import_run_queue(run=ImportRun.objects.get(pk={run.pk}))\n",
        )

        def checkpointed():
            status, line_done, rows_read = _run_state(database, run.pk)
            return status == ImportStatus.RUNNING and rows_read >= CHECKPOINTED_BATCHES * BATCH_SIZE

        wait_for(checkpointed, "the first batches to be committed", log, seconds=WAIT_SECONDS)
        consumers[0].send_signal(signal.SIGKILL)
        assert consumers[0].wait(timeout=30) == -signal.SIGKILL
        status, line_done, rows_read = _run_state(database, run.pk)
        # Killed mid-file: some batches committed, the rest not yet read.
        assert status == ImportStatus.RUNNING
        assert BATCH_SIZE * CHECKPOINTED_BATCHES <= rows_read < ROWS
        assert rows_read % BATCH_SIZE == 0 and line_done == rows_read + 1

        consumers.append(start_consumer(environment, log, workers=1))
        resumed = manage(
            environment,
            "import datetime as dt\n"
            "from tandem.imports.services import import_runs_resume_stale\n"
            "print(import_runs_resume_stale(older_than=dt.timedelta(0)))\n",
        )
        assert resumed.strip().splitlines()[-1] == f"[{run.pk}]"
        wait_for(
            lambda: _run_state(database, run.pk)[0] == ImportStatus.DONE,
            "the resumed run to finish",
            log,
            seconds=WAIT_SECONDS,
        )
    finally:
        for consumer in consumers:
            if consumer.poll() is None:
                consumer.terminate()
                try:
                    consumer.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    consumer.kill()
                    consumer.wait()
        for key in client.scan_iter(match=f"huey.*{queue_name}*"):
            client.delete(key)
    database.bring_back()

    run.refresh_from_db()
    assert run.status == ImportStatus.DONE
    assert (run.rejected_count, run.duplicate_count, run.line_done) == (0, 0, ROWS + 1)
    assert (run.rows_read, run.created_count, run.updated_count, run.unchanged_count) == (ROWS, ROWS, 0, 0)
    assert Person.objects.count() == ROWS
    assert Person.objects.values("email").distinct().count() == ROWS
    assert Person.objects.filter(email="person39999@example.org", first_name="First39999").count() == 1
    assert StageChange.objects.count() == ROWS
    assert not StageChange.objects.values("person_id").annotate(moves=Count("id")).filter(moves__gt=1).exists()
    assert AuditEntry.objects.filter(entity_type="imports.importrun", entity_id=run.pk, action="import").count() == 1
