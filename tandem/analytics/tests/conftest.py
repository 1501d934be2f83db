import pytest
from django.core.cache import cache
from huey.contrib.djhuey import HUEY


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test computes its scorecard afresh: the tile cache of one test is no other's."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _no_catch_up_queued():
    """Each test starts with no catch-up of the rollup queued (the in-memory queue of immediate mode)."""
    assert HUEY.immediate, "tests run Huey in immediate mode, with an in-memory queue"
    HUEY.flush()
    yield
    HUEY.flush()
