"""RedisSessionStore against a real redis-server: key and value format, TLS, passwords, outages."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from plano.routing.affinity import SessionBinding, session_key
from plano.sessions.redis_store import RedisSessionStore
from plano.sessions.store import SessionStoreError
from tests.services.ports import free_port
from tests.services.redis_server import RedisServer, run_redis

CLAUDE = SessionBinding("anthropic/claude-sonnet-4-6", "code_generation")
GPT4O = SessionBinding("openai/gpt-4o", None)
REPO_ROOT = Path(__file__).resolve().parents[3]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def store(redis_server: RedisServer, redis_client: redis.Redis) -> Iterator[RedisSessionStore]:
    the_store = RedisSessionStore.from_url(redis_server.url)
    yield the_store
    the_store.close()


# ------------------------------------------------------------------ format (upstream check 31)


def test_key_value_and_ttl(store: RedisSessionStore, redis_client: redis.Redis) -> None:
    key = session_key("s1", "acme")
    assert key is not None
    store.put_if_absent(key, CLAUDE, 600)
    assert redis_client.keys("*") == [b"plano:affinity:acme:s1"]
    raw = redis_client.get("plano:affinity:acme:s1")
    assert isinstance(raw, bytes)
    assert json.loads(raw) == {
        "model_name": "anthropic/claude-sonnet-4-6",
        "route_name": "code_generation",
    }
    ttl = redis_client.ttl("plano:affinity:acme:s1")
    assert isinstance(ttl, int)
    assert 0 < ttl <= 600


def test_put_sets_ttl_too(store: RedisSessionStore, redis_client: redis.Redis) -> None:
    store.put("implicit:abc", GPT4O, 30)
    assert json.loads(redis_client.get("plano:affinity:implicit:abc") or b"") == {
        "model_name": "openai/gpt-4o",
        "route_name": None,
    }
    ttl = redis_client.ttl("plano:affinity:implicit:abc")
    assert isinstance(ttl, int)
    assert 0 < ttl <= 30


def test_reads_a_binding_written_by_another_replica(
    store: RedisSessionStore, redis_client: redis.Redis
) -> None:
    redis_client.set("plano:affinity:s9", '{"model_name":"openai/gpt-4o","route_name":null}')
    assert store.get("s9") == GPT4O
    assert store.put_if_absent("s9", CLAUDE, 60) == GPT4O  # the lost race reads the winner


def test_read_does_not_touch_the_ttl(store: RedisSessionStore, redis_client: redis.Redis) -> None:
    store.put_if_absent("s1", CLAUDE, 100)
    redis_client.expire("plano:affinity:s1", 7)
    store.get("s1")
    store.put_if_absent("s1", GPT4O, 100)
    ttl = redis_client.ttl("plano:affinity:s1")
    assert isinstance(ttl, int)
    assert ttl <= 7


@pytest.mark.parametrize(
    "stored", [b"garbage", b'{"anchor_model":"m","last_used":1}', b"\xff\xfe", b"[1,2]"]
)
def test_undecodable_value_is_a_miss_and_is_replaced(
    store: RedisSessionStore, redis_client: redis.Redis, stored: bytes
) -> None:
    redis_client.set("plano:affinity:old", stored)
    assert store.get("old") is None
    assert store.put_if_absent("old", CLAUDE, 60) == CLAUDE
    assert store.get("old") == CLAUDE
    ttl = redis_client.ttl("plano:affinity:old")
    assert isinstance(ttl, int)
    assert 0 < ttl <= 60


# ------------------------------------------------------------------ URLs, TLS, passwords


def test_rediss_url_means_tls_with_password_and_db() -> None:
    store = RedisSessionStore.from_url(
        "rediss://:s3cr%40t@cache.example.com:6380/2?ssl_cert_reqs=none"
    )
    pool = store.client.connection_pool
    assert issubclass(pool.connection_class, redis.SSLConnection)
    kwargs = pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("cache.example.com", 6380, 2)
    assert kwargs["password"] == "s3cr@t"
    assert kwargs["socket_connect_timeout"] == 1.0
    assert kwargs["socket_timeout"] == 0.5
    store.close()


def test_redis_url_is_plain_tcp() -> None:
    store = RedisSessionStore.from_url("redis://user:pw@localhost:6379/0", response_timeout_s=2.0)
    pool = store.client.connection_pool
    assert not issubclass(pool.connection_class, redis.SSLConnection)
    assert pool.connection_kwargs["username"] == "user"
    assert pool.connection_kwargs["password"] == "pw"
    assert pool.connection_kwargs["socket_timeout"] == 2.0


@pytest.mark.parametrize("url", ["http://localhost:6379", "localhost:6379", ""])
def test_other_schemes_are_rejected(url: str) -> None:
    with pytest.raises(ValueError):
        RedisSessionStore.from_url(url)


def test_tls_server(tmp_path: Path) -> None:
    with run_redis(tmp_path, tls=True) as server:
        assert server.url.startswith("rediss://")
        store = RedisSessionStore.from_url(server.url)
        assert store.ping() is True
        assert store.put_if_absent("tls", CLAUDE, 60) == CLAUDE
        assert store.get("tls") == CLAUDE
        store.close()
        # plain TCP against a TLS port fails as a store error, not a hang
        plain = RedisSessionStore.from_url(f"redis://127.0.0.1:{server.port}/0")
        started = time.monotonic()
        with pytest.raises(SessionStoreError):
            plain.get("tls")
        assert time.monotonic() - started < 3.0
        plain.close()


def test_password_from_url(tmp_path: Path) -> None:
    with run_redis(tmp_path, password="p@ss word") as server:
        assert "p%40ss%20word@" in server.url
        store = RedisSessionStore.from_url(server.url)
        assert store.put_if_absent("s1", CLAUDE, 60) == CLAUDE
        assert store.get("s1") == CLAUDE
        store.close()
        for url in (
            f"redis://127.0.0.1:{server.port}/0",
            f"redis://:wrong@127.0.0.1:{server.port}/0",
        ):
            bad = RedisSessionStore.from_url(url)
            with pytest.raises(SessionStoreError):
                bad.get("s1")
            assert bad.ping() is False
            bad.close()


# ------------------------------------------------------------------ outages (upstream check 32)


def test_construction_never_connects() -> None:
    port = free_port()  # nothing listens there
    store = RedisSessionStore.from_url(f"redis://127.0.0.1:{port}/0")
    assert store.ping() is False
    started = time.monotonic()
    with pytest.raises(SessionStoreError) as info:
        store.get("s1")
    assert time.monotonic() - started < 1.0
    assert isinstance(info.value.__cause__, redis.RedisError)
    store.close()


def test_outage_and_recovery_without_rebuilding_the_store(tmp_path: Path) -> None:
    clock = Clock()
    with run_redis(tmp_path) as server:
        store = RedisSessionStore.from_url(server.url, cooldown_s=5.0, clock=clock)
        assert store.put_if_absent("s1", CLAUDE, 600) == CLAUDE

        server.stop()
        calls: list[Callable[[], object]] = [
            lambda: store.get("s1"),
            lambda: store.put_if_absent("s1", GPT4O, 600),
            lambda: store.put("s1", GPT4O, 600),
        ]
        for method in calls:
            started = time.monotonic()
            with pytest.raises(SessionStoreError):
                method()
            assert time.monotonic() - started < 1.0
        assert store.ping() is False

        server.start()  # same port, empty data set
        # within the cooldown the store fails fast without trying
        with pytest.raises(SessionStoreError, match="cooling down"):
            store.get("s1")
        clock.now += 5.0
        assert store.get("s1") is None
        assert store.put_if_absent("s1", GPT4O, 600) == GPT4O
        assert store.get("s1") == GPT4O
        store.close()


def test_ping_ends_the_cooldown(tmp_path: Path) -> None:
    clock = Clock()
    with run_redis(tmp_path) as server:
        store = RedisSessionStore.from_url(server.url, cooldown_s=60.0, clock=clock)
        server.stop()
        with pytest.raises(SessionStoreError):
            store.get("s1")
        server.start()
        with pytest.raises(SessionStoreError):
            store.get("s1")
        assert store.ping() is True  # what /readyz calls
        assert store.get("s1") is None
        store.close()


def test_restart_between_commands_is_invisible(tmp_path: Path) -> None:
    """A pooled connection that died with a Redis restart is replaced on the next command."""
    with run_redis(tmp_path) as server:
        store = RedisSessionStore.from_url(server.url)
        store.put_if_absent("s1", CLAUDE, 600)
        server.stop()
        server.start()
        assert store.get("s1") is None  # no SessionStoreError: reconnected
        assert store.put_if_absent("s1", GPT4O, 600) == GPT4O
        store.close()


def test_a_server_that_never_answers_times_out_quickly() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)  # the kernel completes handshakes; nobody ever reads or answers
        port = listener.getsockname()[1]
        store = RedisSessionStore.from_url(f"redis://127.0.0.1:{port}/0", response_timeout_s=0.3)
        started = time.monotonic()
        with pytest.raises(SessionStoreError):
            store.get("s1")
        assert time.monotonic() - started < 1.5
        started = time.monotonic()
        with pytest.raises(SessionStoreError, match="cooling down"):
            store.get("s1")
        assert time.monotonic() - started < 0.1
        store.close()


# ------------------------------------------------------------------ under gevent

GEVENT_RACE = textwrap.dedent(
    """
    from gevent import monkey

    monkey.patch_all()

    import json
    import sys

    import gevent

    from plano.routing.affinity import SessionBinding
    from plano.sessions.redis_store import RedisSessionStore

    url = sys.argv[1]
    # two "workers", each with a small pool, and 100 greenlets racing on one new key
    stores = [RedisSessionStore.from_url(url, max_connections=4) for _ in range(2)]
    jobs = [
        gevent.spawn(stores[i % 2].put_if_absent, "g", SessionBinding(f"m{i}", "r"), 60)
        for i in range(100)
    ]
    gevent.joinall(jobs, timeout=20, raise_error=True)
    winners = sorted({job.value.model_name for job in jobs})
    stored = stores[0].get("g")
    print(json.dumps({"winners": winners, "stored": stored.model_name if stored else None}))
    """
)


def test_race_under_gevent(redis_server: RedisServer, redis_client: redis.Redis) -> None:
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", GEVENT_RACE, redis_server.url],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert len(result["winners"]) == 1
    assert result["stored"] == result["winners"][0]
