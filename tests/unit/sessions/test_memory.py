"""MemorySessionStore: TTL and LRU with an injected clock (upstream check 30)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plano.routing.affinity import SessionBinding
from plano.sessions.memory import MemorySessionStore

A = SessionBinding("openai/gpt-4o", "complex_reasoning")
B = SessionBinding("anthropic/claude-sonnet-4-6", "code_generation")
C = SessionBinding("openai/gpt-4o-mini", None)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_upstream_check_30_lru() -> None:
    store = MemorySessionStore(2, clock=Clock())
    store.put_if_absent("s1", A, 600)
    store.put_if_absent("s2", B, 600)
    assert store.get("s1") == A  # s1 is now the most recently used
    store.put_if_absent("s3", C, 600)
    assert store.get("s2") is None
    assert store.get("s1") == A
    assert store.get("s3") == C
    # updating an existing key at capacity evicts nothing
    store.put("s1", B, 600)
    assert len(store) == 2
    assert store.get("s1") == B
    assert store.get("s3") == C


def test_writes_refresh_recency() -> None:
    store = MemorySessionStore(2, clock=Clock())
    store.put("s1", A, 600)
    store.put("s2", B, 600)
    store.put("s1", A, 600)  # s2 is now the least recently used
    store.put("s3", C, 600)
    assert store.get("s2") is None
    assert store.get("s1") == A


def test_put_if_absent_on_a_live_key_counts_as_a_read() -> None:
    store = MemorySessionStore(2, clock=Clock())
    store.put("s1", A, 600)
    store.put("s2", B, 600)
    assert store.put_if_absent("s1", C, 600) == A
    store.put("s3", C, 600)
    assert store.get("s2") is None
    assert store.get("s1") == A


def test_capacity_one() -> None:
    store = MemorySessionStore(1, clock=Clock())
    store.put("s1", A, 600)
    store.put("s2", B, 600)
    assert store.get("s1") is None
    assert store.get("s2") == B
    assert len(store) == 1


def test_ttl_is_absolute_from_the_store() -> None:
    clock = Clock()
    store = MemorySessionStore(10, clock=clock)
    store.put_if_absent("s1", A, 10)
    clock.now += 9.999
    assert store.get("s1") == A  # a hit does not extend the TTL
    clock.now += 0.001
    assert store.get("s1") is None
    assert len(store) == 0  # an expired entry met on a read is dropped


def test_expired_entry_is_replaced_by_put_if_absent() -> None:
    clock = Clock()
    store = MemorySessionStore(10, clock=clock)
    store.put_if_absent("s1", A, 1)
    clock.now += 1
    assert store.put_if_absent("s1", B, 5) == B
    clock.now += 4
    assert store.get("s1") == B
    clock.now += 1
    assert store.get("s1") is None


def test_put_restarts_the_ttl() -> None:
    clock = Clock()
    store = MemorySessionStore(10, clock=clock)
    store.put("s1", A, 10)
    clock.now += 8
    store.put("s1", B, 10)
    clock.now += 8
    assert store.get("s1") == B


def test_each_entry_has_its_own_ttl() -> None:
    clock = Clock()
    store = MemorySessionStore(10, clock=clock)
    store.put("short", A, 1)
    store.put("long", B, 100)
    clock.now += 50
    assert store.get("short") is None
    assert store.get("long") == B


def test_session_max_entries_default_capacity() -> None:
    store = MemorySessionStore(10_000, clock=Clock())
    for i in range(10_001):
        store.put(f"s{i}", A, 600)
    assert len(store) == 10_000
    assert store.get("s0") is None
    assert store.get("s10000") == A


def test_close_drops_everything() -> None:
    store = MemorySessionStore(10, clock=Clock())
    store.put("s1", A, 600)
    store.close()
    assert store.get("s1") is None


@pytest.mark.parametrize("bad", [0, -1])
def test_capacity_must_be_positive(bad: int) -> None:
    with pytest.raises(ValueError):
        MemorySessionStore(bad)


def test_backend_and_ping() -> None:
    store = MemorySessionStore(1)
    assert store.backend == "memory"
    assert store.ping() is True


# A reference model: a list in recency order (oldest first) of (key, binding, expires_at).
_ops = st.lists(
    st.tuples(
        st.sampled_from(["get", "put", "put_if_absent", "tick"]),
        st.sampled_from(["k0", "k1", "k2", "k3", "k4"]),
        st.sampled_from([A, B, C]),
        st.integers(min_value=1, max_value=5),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(capacity=st.integers(min_value=1, max_value=4), ops=_ops)
def test_matches_a_reference_lru(
    capacity: int, ops: list[tuple[str, str, SessionBinding, int]]
) -> None:
    clock = Clock(0.0)
    store = MemorySessionStore(capacity, clock=clock)
    model: list[tuple[str, SessionBinding, float]] = []

    def live(key: str) -> SessionBinding | None:
        for i, (k, binding, expires_at) in enumerate(model):
            if k == key:
                if clock.now >= expires_at:
                    del model[i]
                    return None
                model.append(model.pop(i))
                return binding
        return None

    def store_(key: str, binding: SessionBinding, ttl: int) -> None:
        index = next((i for i, entry in enumerate(model) if entry[0] == key), None)
        if index is not None:
            del model[index]
        else:
            while len(model) >= capacity:
                del model[0]
        model.append((key, binding, clock.now + ttl))

    for op, key, binding, n in ops:
        if op == "tick":
            clock.now += n
        elif op == "get":
            assert store.get(key) == live(key)
        elif op == "put":
            store.put(key, binding, n)
            store_(key, binding, n)
        else:
            expected = live(key)
            if expected is None:
                store_(key, binding, n)
                expected = binding
            assert store.put_if_absent(key, binding, n) == expected
        assert len(store) == len(model) <= capacity
