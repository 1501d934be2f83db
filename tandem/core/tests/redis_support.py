"""What the tests that start real Redis-backed consumers share: the Redis server, the test database as
other processes reach it, and running, waiting on and talking to those processes."""

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

REPOSITORY = Path(__file__).resolve().parents[3]


def redis_url() -> str:
    """The Redis database the worker tests use (not the one a developer's own worker may be on)."""
    return os.environ.get("TANDEM_TEST_REDIS_URL") or "redis://127.0.0.1:6379/11"


def require_redis(url: str):
    """A client of the Redis server at `url`; the test is skipped, saying why, when none answers."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        client.ping()
    except redis.RedisError as error:
        pytest.skip(f"Redis is not reachable at {url} ({error}); this test needs a Redis server.")
    return client


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

    def fetch_one(self, sql: str, params: tuple = ()) -> tuple:
        """One row as the workers last committed it (`%s` placeholders)."""
        if self.copy is None:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchone()
        with sqlite3.connect(f"file:{self.copy}?mode=ro", uri=True, timeout=30) as reader:
            return reader.execute(sql.replace("%s", "?"), params).fetchone()

    def bring_back(self) -> None:
        if self.copy is not None:
            source = sqlite3.connect(self.copy)
            source.backup(connection.connection)
            source.close()


def manage(environment, code: str) -> str:
    """Run Python in another process with Django set up (`tandem manage shell -c`); returns its output."""
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "tandem.cli", "manage", "shell", "-c", code],
        cwd=REPOSITORY, env=environment, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def start_consumer(environment, log: Path, *, workers: int) -> subprocess.Popen:
    """A Huey consumer process, its output appended to `log`."""
    with log.open("a") as handle:
        return subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "tandem.cli", "manage", "run_huey", "--workers", str(workers)],
            cwd=REPOSITORY, env=environment, stdout=handle, stderr=subprocess.STDOUT,
        )  # fmt: skip


def wait_for(condition, what: str, log: Path, *, seconds: float):
    """The first true value of `condition()` within `seconds`, or a failure showing the consumer's log."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}; consumer log:\n{log.read_text()[-4000:]}")
