import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test computes its scorecard afresh: the tile cache of one test is no other's."""
    cache.clear()
    yield
    cache.clear()
