"""One contract, two backends: MemorySessionStore and RedisSessionStore (real redis-server).

Every SessionStore must pass these. A `Harness` hands out stores that share one backing data set
(for Redis: separate clients, as separate workers or replicas would have) and lets time pass.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import redis

from plano.routing.affinity import SessionBinding
from plano.sessions.memory import MemorySessionStore
from plano.sessions.redis_store import RedisSessionStore
from plano.sessions.store import SessionStore

A = SessionBinding("openai/gpt-4o", "complex_reasoning")
B = SessionBinding("anthropic/claude-sonnet-4-6", "code_generation")
C = SessionBinding("openai/gpt-4o-mini", None)


@dataclass
class Harness:
    """Stores over one data set, and a way to let `seconds` pass for them."""

    new_store: Callable[[], SessionStore]
    advance: Callable[[float], None]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(params=["memory", "redis"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if request.param == "memory":
        clock = Clock()
        shared = MemorySessionStore(100, clock=clock)
        yield Harness(lambda: shared, clock.advance)
        return
    client: redis.Redis = request.getfixturevalue("redis_client")  # flushed
    url = request.getfixturevalue("redis_server").url
    stores: list[RedisSessionStore] = []

    def new_store() -> RedisSessionStore:
        stores.append(RedisSessionStore.from_url(url))
        return stores[-1]

    # Redis keeps real time (millisecond expiry precision): sleep a little past the TTL.
    yield Harness(new_store, lambda seconds: time.sleep(seconds + 0.05))
    for store in stores:
        store.close()
    assert client.ping()


def test_backend_names_itself(harness: Harness) -> None:
    assert harness.new_store().backend in ("memory", "redis")


def test_get_absent(harness: Harness) -> None:
    assert harness.new_store().get("nobody") is None


def test_put_if_absent_stores_a_new_binding(harness: Harness) -> None:
    store = harness.new_store()
    assert store.put_if_absent("s1", A, 600) == A
    assert store.get("s1") == A


def test_put_if_absent_keeps_the_first_binding(harness: Harness) -> None:
    first, second = harness.new_store(), harness.new_store()
    assert first.put_if_absent("s1", A, 600) == A
    assert second.put_if_absent("s1", B, 600) == A
    assert first.get("s1") == A
    assert second.get("s1") == A


def test_put_replaces(harness: Harness) -> None:
    store = harness.new_store()
    store.put("s1", A, 600)
    store.put("s1", B, 600)
    assert store.get("s1") == B


def test_null_route_round_trips(harness: Harness) -> None:
    store = harness.new_store()
    store.put_if_absent("s1", C, 600)
    assert store.get("s1") == C


@pytest.mark.parametrize(
    "key", ["acme:s1", "implicit:0123456789abcdef", "with space", "a" * 300, "ünïcödé"]
)
def test_any_key(harness: Harness, key: str) -> None:
    store = harness.new_store()
    store.put_if_absent(key, B, 600)
    assert store.get(key) == B


def test_keys_are_independent(harness: Harness) -> None:
    store = harness.new_store()
    store.put_if_absent("s1", A, 600)
    store.put_if_absent("acme:s1", B, 600)
    store.put_if_absent("s2", C, 600)
    assert (store.get("s1"), store.get("acme:s1"), store.get("s2")) == (A, B, C)


def test_expired_binding_is_never_returned(harness: Harness) -> None:
    store = harness.new_store()
    store.put_if_absent("s1", A, 1)
    harness.advance(1.0)
    assert store.get("s1") is None
    # a new first request binds afresh
    assert store.put_if_absent("s1", B, 600) == B
    assert store.get("s1") == B


def test_reads_do_not_extend_the_ttl(harness: Harness) -> None:
    store = harness.new_store()
    store.put_if_absent("s1", A, 1)
    harness.advance(0.5)
    assert store.get("s1") == A
    assert store.put_if_absent("s1", B, 1) == A
    harness.advance(0.5)
    assert store.get("s1") is None


@pytest.mark.parametrize("bad_ttl", [0, -5])
def test_ttl_must_be_positive(harness: Harness, bad_ttl: int) -> None:
    store = harness.new_store()
    with pytest.raises(ValueError):
        store.put_if_absent("s1", A, bad_ttl)
    with pytest.raises(ValueError):
        store.put("s1", A, bad_ttl)


def test_ping(harness: Harness) -> None:
    assert harness.new_store().ping() is True


def _race(
    stores: list[SessionStore], key: str, proposals: list[SessionBinding]
) -> list[SessionBinding | None]:
    """Each store proposes its binding for `key` at once (threads released by one barrier)."""
    barrier = threading.Barrier(len(stores))
    results: list[SessionBinding | None] = [None] * len(stores)
    errors: list[BaseException] = []

    def race(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[i] = stores[i].put_if_absent(key, proposals[i], 600)
        except BaseException as exc:  # reported in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    return results


def test_racing_first_requests_all_get_one_winner(harness: Harness) -> None:
    """Concurrent first requests of one session, each on its own store, end on one binding."""
    racers = 24
    stores = [harness.new_store() for _ in range(racers)]
    for store in stores:  # connect before the race so the race is on SET NX, not on connecting
        store.get("warm-up")
    proposals = [SessionBinding(f"model-{i}", f"route-{i}") for i in range(racers)]
    winners = set(_race(stores, "hot", proposals))
    assert len(winners) == 1
    (winner,) = winners
    assert winner in proposals
    assert stores[0].get("hot") == winner


def test_many_rounds_of_races_on_new_keys(harness: Harness) -> None:
    """Repeat short races on fresh keys: the winner is always unique and is what is stored."""
    racers = 6
    stores = [harness.new_store() for _ in range(racers)]
    proposals = [SessionBinding(f"m{i}", None) for i in range(racers)]
    for round_ in range(20):
        results = _race(stores, f"k{round_}", proposals)
        assert len(set(results)) == 1
        assert results[0] in proposals
        assert stores[-1].get(f"k{round_}") == results[0]
