"""build_session_store, the start-up check and the memory-backend start-up warning."""

from __future__ import annotations

import logging

import pytest

from plano.config.model import RoutingSettings, SessionCache, SessionCacheType
from plano.errors import ConfigError
from plano.routing.affinity import SessionBinding
from plano.sessions.factory import build_session_store, check_at_start
from plano.sessions.memory import MemorySessionStore, memory_backend_warning
from plano.sessions.redis_store import RedisSessionStore
from tests.services.ports import free_port
from tests.services.redis_server import RedisServer


def test_memory_is_the_default() -> None:
    store = build_session_store(RoutingSettings(session_max_entries=2))
    assert isinstance(store, MemorySessionStore)
    assert store.backend == "memory"
    for key in ("a", "b", "c"):
        store.put(key, SessionBinding("m", None), 60)
    assert len(store) == 2  # session_max_entries is the capacity


def test_redis_store_is_built_lazily_with_redis_down() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    settings = RoutingSettings(session_cache=SessionCache(SessionCacheType.REDIS, url))
    store = build_session_store(settings)  # plano starts with Redis down
    assert isinstance(store, RedisSessionStore)
    assert store.backend == "redis"
    assert store.ping() is False
    store.close()


def test_redis_store_works(redis_server: RedisServer) -> None:
    settings = RoutingSettings(
        session_cache=SessionCache(SessionCacheType.REDIS, redis_server.url, "x-org-id")
    )
    store = build_session_store(settings)
    assert store.ping() is True
    store.close()


def test_redis_without_url_is_a_config_error() -> None:
    settings = RoutingSettings(session_cache=SessionCache(SessionCacheType.REDIS, None))
    with pytest.raises(ConfigError, match="session_cache.url is required"):
        build_session_store(settings)


@pytest.mark.parametrize("workers", [0, 1])
def test_no_warning_for_one_worker(workers: int) -> None:
    assert memory_backend_warning(workers) is None


def test_warning_for_several_workers() -> None:
    assert memory_backend_warning(4) == (
        "the memory session cache is per worker process: with 4 workers affinity holds only "
        "within one worker; use routing.session_cache.type: redis"
    )


def test_start_up_check_logs_an_unreachable_redis(caplog: pytest.LogCaptureFixture) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    store = build_session_store(
        RoutingSettings(session_cache=SessionCache(SessionCacheType.REDIS, url))
    )
    with caplog.at_level(logging.INFO, logger="plano.sessions.factory"):
        assert check_at_start(store) is False  # never raises: plano starts anyway
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "redis unreachable at start-up" in caplog.text
    store.close()


def test_start_up_check_of_a_reachable_store(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    settings = RoutingSettings(session_cache=SessionCache(SessionCacheType.REDIS, redis_server.url))
    store = build_session_store(settings)
    with caplog.at_level(logging.INFO, logger="plano.sessions.factory"):
        assert check_at_start(store) is True
        assert check_at_start(MemorySessionStore(1)) is True
    assert [r.levelno for r in caplog.records] == [logging.INFO, logging.INFO]
    store.close()
