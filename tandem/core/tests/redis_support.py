"""What the tests that start real Redis-backed consumers share."""

import pytest


def require_redis(url: str):
    """A client of the Redis server at `url`; the test is skipped, saying why, when none answers."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        client.ping()
    except redis.RedisError as error:
        pytest.skip(f"Redis is not reachable at {url} ({error}); this test needs a Redis server.")
    return client
