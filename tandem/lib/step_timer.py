"""Seconds spent in each named step of a long job, kept where benchmarks and logs can read them."""

import time


class StepTimer:
    """`step("name")` adds the seconds since the previous step (or the start) to `into[name]`.

    `into` is emptied at the start, so it always describes the latest run; a name used twice adds up.
    """

    def __init__(self, into: dict[str, float]):
        into.clear()
        self.into = into
        self.started = time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.into[name] = round(self.into.get(name, 0) + now - self.started, 3)
        self.started = now
