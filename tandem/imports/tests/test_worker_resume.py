"""A real worker killed mid-file: the run resumes from its checkpoint and imports every row exactly once.

A Huey consumer process takes the import off a Redis queue and is killed with SIGKILL once the run
has committed a few batches. A second consumer finishes the file after the product's resumer
(`import_runs_resume_stale`, run every minute by the worker) queues the stalled run again.
"""

import csv
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from importlib import import_module
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Count

from tandem.audit.models import AuditEntry
from tandem.core.tests.redis_support import require_redis
from tandem.crm.models import Person, StageChange
from tandem.imports.models import ImportRun, ImportStatus
from tandem.imports.services import BATCH_SIZE, import_run_create

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

REPOSITORY = Path(__file__).resolve().parents[3]
ROWS = 40_000
CHECKPOINTED_BATCHES = 2
WAIT_SECONDS = 240


@pytest.fixture(autouse=True)
def _seeded_stages():
    """The stages and statuses a migration seeds; a transactional test before this one may have flushed them."""
    from django.apps import apps

    import_module("tandem.crm.migrations.0003_seed_defaults").seed(apps, None)


def _redis_url() -> str:
    return os.environ.get("TANDEM_TEST_REDIS_URL") or "redis://127.0.0.1:6379/11"


class SharedDatabase:
    """The test database as other processes reach it.

    PostgreSQL and a SQLite file are shared as they are. SQLite's in-memory test database is copied
    to a file for the worker processes and copied back when they are done.
    """

    def __init__(self, tmp_path: Path):
        settings = connection.settings_dict
        connection.ensure_connection()
        self.copy: Path | None = None
        if connection.vendor == "postgresql":
            password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
            self.url = (
                f"postgres://{settings['USER']}{password}@{settings['HOST'] or '127.0.0.1'}:"
                f"{settings['PORT'] or 5432}/{settings['NAME']}"
            )
        elif connection.is_in_memory_db():
            self.copy = tmp_path / "shared.sqlite3"
            target = sqlite3.connect(self.copy)
            connection.connection.backup(target)
            target.close()
            self.url = f"sqlite:///{self.copy}"
        else:
            self.url = f"sqlite:///{settings['NAME']}"

    def run_state(self, run_id: int) -> tuple[str, int, int]:
        """(status, line_done, rows_read) as the workers last committed them."""
        if self.copy is None:
            row = ImportRun.objects.filter(pk=run_id).values_list("status", "line_done", "rows_read").get()
            return row
        with sqlite3.connect(f"file:{self.copy}?mode=ro", uri=True, timeout=30) as reader:
            return reader.execute(
                "SELECT status, line_done, rows_read FROM imports_importrun WHERE id = ?", (run_id,)
            ).fetchone()

    def bring_back(self) -> None:
        if self.copy is not None:
            source = sqlite3.connect(self.copy)
            source.backup(connection.connection)
            source.close()


def _people_file(path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Email", "First Name", "Last Name", "Job Title", "Lifecycle Stage"])
        for number in range(ROWS):
            writer.writerow([f"person{number}@example.org", f"First{number}", f"Last{number}", "Buyer", "Lead"])
    return path


def _manage(environment, code: str) -> str:
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "tandem.cli", "manage", "shell", "-c", code],
        cwd=REPOSITORY, env=environment, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def _start_consumer(environment, log: Path) -> subprocess.Popen:
    with log.open("a") as handle:
        return subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "tandem.cli", "manage", "run_huey", "--workers", "1"],
            cwd=REPOSITORY, env=environment, stdout=handle, stderr=subprocess.STDOUT,
        )  # fmt: skip


def _wait_for(condition, what: str, log: Path):
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}; consumer log:\n{log.read_text()[-4000:]}")


def test_a_killed_worker_resumes_the_file_without_losing_or_doubling_rows(cast, tmp_path, settings):
    url = _redis_url()
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
        consumers.append(_start_consumer(environment, log))
        _manage(
            environment,
            "from tandem.imports.models import ImportRun\n"
            "from tandem.imports.services import import_run_queue\n"
            f"import_run_queue(run=ImportRun.objects.get(pk={run.pk}))\n",
        )

        def checkpointed():
            status, line_done, rows_read = database.run_state(run.pk)
            return status == ImportStatus.RUNNING and rows_read >= CHECKPOINTED_BATCHES * BATCH_SIZE

        _wait_for(checkpointed, "the first batches to be committed", log)
        consumers[0].send_signal(signal.SIGKILL)
        assert consumers[0].wait(timeout=30) == -signal.SIGKILL
        status, line_done, rows_read = database.run_state(run.pk)
        # Killed mid-file: some batches committed, the rest not yet read.
        assert status == ImportStatus.RUNNING
        assert BATCH_SIZE * CHECKPOINTED_BATCHES <= rows_read < ROWS
        assert rows_read % BATCH_SIZE == 0 and line_done == rows_read + 1

        consumers.append(_start_consumer(environment, log))
        resumed = _manage(
            environment,
            "import datetime as dt\n"
            "from tandem.imports.services import import_runs_resume_stale\n"
            "print(import_runs_resume_stale(older_than=dt.timedelta(0)))\n",
        )
        assert resumed.strip().splitlines()[-1] == f"[{run.pk}]"
        _wait_for(lambda: database.run_state(run.pk)[0] == ImportStatus.DONE, "the resumed run to finish", log)
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
