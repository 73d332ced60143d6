"""Shared fixtures: one real redis-server per test session, flushed before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from tests.services.redis_server import RedisServer, run_redis


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server shared by the tests that do not stop it."""
    with run_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture()
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A raw client on the shared server, its data set emptied first."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    try:
        yield client
    finally:
        client.close()
