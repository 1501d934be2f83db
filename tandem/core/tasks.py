"""Background work that checks the queue itself."""

import os

from huey.contrib.djhuey import HUEY, task


@task()
def worker_ping(token: str) -> dict:
    """Echo `token` from a worker: proves a consumer is taking work off this queue."""
    return {"token": token, "pid": os.getpid(), "queue": type(HUEY).__name__}
