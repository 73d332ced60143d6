"""MemorySessionStore: a per-process LRU with absolute TTL (the default backend).

Under several gunicorn workers each worker has its own: affinity then holds within one worker
only (see memory_backend_warning).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from plano.routing.affinity import SessionBinding


class MemorySessionStore:
    """LRU of at most `max_entries` bindings, each expiring `ttl_s` after it was stored.

    Reads and writes refresh recency; inserting a new key at capacity evicts the least recently
    used key; updating an existing key evicts nothing. Expired entries are never returned and are
    dropped when met. No method blocks or yields, so it is safe under gevent; the lock only
    matters for threaded servers and is never held across IO.
    """

    def __init__(self, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[SessionBinding, float]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def backend(self) -> str:
        """Always `memory`."""
        return "memory"

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> SessionBinding | None:
        """The live binding under `key` (refreshing its recency), or None."""
        with self._lock:
            return self._live(key, self._clock())

    def put(self, key: str, binding: SessionBinding, ttl_s: int) -> None:
        """Store `binding` for `ttl_s` seconds from now, replacing any earlier one."""
        _check_ttl(ttl_s)
        with self._lock:
            self._store(key, binding, self._clock() + ttl_s)

    def put_if_absent(self, key: str, binding: SessionBinding, ttl_s: int) -> SessionBinding:
        """Store `binding` unless a live one exists; return the binding in force afterwards."""
        _check_ttl(ttl_s)
        with self._lock:
            now = self._clock()
            existing = self._live(key, now)
            if existing is not None:
                return existing
            self._store(key, binding, now + ttl_s)
            return binding

    def ping(self) -> bool:
        """Always True: process memory is always there."""
        return True

    def close(self) -> None:
        """Drop every binding."""
        with self._lock:
            self._entries.clear()

    def _live(self, key: str, now: float) -> SessionBinding | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        binding, expires_at = entry
        if now >= expires_at:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return binding

    def _store(self, key: str, binding: SessionBinding, expires_at: float) -> None:
        if key in self._entries:
            self._entries.move_to_end(key)
        else:
            while len(self._entries) >= self._max_entries:
                self._entries.popitem(last=False)
        self._entries[key] = (binding, expires_at)


def _check_ttl(ttl_s: int) -> None:
    if ttl_s < 1:
        raise ValueError(f"ttl_s must be at least 1 second, got {ttl_s}")


def memory_backend_warning(workers: int) -> str | None:
    """The start-up warning for the memory backend under several workers, or None for one."""
    if workers <= 1:
        return None
    return (
        f"the memory session cache is per worker process: with {workers} workers affinity holds "
        "only within one worker; use routing.session_cache.type: redis"
    )
