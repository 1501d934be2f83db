"""A real task through the Redis-backed queue, taken off it by a real consumer process."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tandem.core.tests.redis_support import require_redis

pytestmark = pytest.mark.redis

REPOSITORY = Path(__file__).resolve().parents[3]
ENQUEUE = (
    "import json\n"
    "from tandem.core.tasks import worker_ping\n"
    "result = worker_ping({token!r}).get(blocking=True, timeout=30)\n"
    "print(json.dumps({{'result': result, 'enqueuer_pid': __import__('os').getpid()}}))\n"
)


def _redis_url() -> str:
    return os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/9"


def test_a_consumer_process_runs_a_task_enqueued_by_another_process(tmp_path):
    url = _redis_url()
    client = require_redis(url)
    # Letters and digits only: Huey keeps only those in its Redis key names.
    queue_name = f"tandemtest{uuid.uuid4().hex}"
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tandem.settings",
        "REDIS_URL": url,
        "TANDEM_HUEY_NAME": queue_name,
        "TANDEM_DATA_DIR": str(tmp_path),
    }
    consumer_log = tmp_path / "consumer.log"
    token = uuid.uuid4().hex
    with consumer_log.open("w") as log:
        consumer = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "tandem.cli", "manage", "run_huey", "--workers", "1"],
            cwd=REPOSITORY, env=environment, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    enqueue = ENQUEUE.format(token=token)
    try:
        enqueuer = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "tandem.cli", "manage", "shell", "-c", enqueue],
            cwd=REPOSITORY, env=environment, capture_output=True, text=True, timeout=90,
        )  # fmt: skip
        assert enqueuer.returncode == 0, (
            f"enqueuer failed:\n{enqueuer.stderr}\nconsumer log:\n{consumer_log.read_text()}"
        )
        reply = json.loads(enqueuer.stdout.strip().splitlines()[-1])
        assert reply["result"] == {"token": token, "pid": consumer.pid, "queue": "RedisHuey"}
        assert reply["enqueuer_pid"] != consumer.pid
    finally:
        consumer.terminate()
        try:
            consumer.wait(timeout=10)
        except subprocess.TimeoutExpired:
            consumer.kill()
            consumer.wait()
        for key in client.scan_iter(match=f"huey.*{queue_name}*"):
            client.delete(key)
