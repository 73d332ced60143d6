"""RedisSessionStore: bindings shared by every worker and replica (SPEC §6).

Key `plano:affinity:<key>`, value the binding's JSON, written with `SET key value EX ttl NX` so
that concurrent first requests of one session, anywhere, end on the first stored model; the loser
reads the winner back with GET. Expiry is Redis's job.

Timeouts (defaults 1 s connect, 0.5 s per command): every routed request with a session does a
GET and often a SET before the upstream call, and the gateway fails open, so a slow Redis must cost
little. A healthy Redis answers in well under a millisecond on a LAN; 0.5 s still absorbs a fork
for a snapshot or a GC pause, and 1 s is ample for a TCP (or TLS) handshake nearby. Upstream Plano
uses 5 s / 2 s (#1010): too long to pay on every request while Redis is unreachable.

Reconnecting: redis-py reconnects per command; one immediate retry on a ConnectionError replaces a
pooled connection that died (Redis restarted, idle timeout) without the caller seeing an error.
Timeouts are not retried. After a connection failure or timeout the store fails fast for
`cooldown_s` instead of making every request wait for a dead host; `ping()` always tries, so a
readiness probe closes the breaker as soon as Redis answers again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from plano.routing.affinity import SessionBinding
from plano.sessions.store import SessionStoreError

KEY_PREFIX = "plano:affinity:"
CONNECT_TIMEOUT_S = 1.0
RESPONSE_TIMEOUT_S = 0.5
MAX_CONNECTIONS = 50
COOLDOWN_S = 1.0


class RedisSessionStore:
    """Bindings in Redis; lazy: nothing connects until the first command."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        cooldown_s: float = COOLDOWN_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._down_reason = ""

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        response_timeout_s: float = RESPONSE_TIMEOUT_S,
        max_connections: int = MAX_CONNECTIONS,
        cooldown_s: float = COOLDOWN_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> RedisSessionStore:
        """A store for `redis://` or `rediss://` (TLS) URLs, password and db in the URL allowed."""
        if not url.startswith(("redis://", "rediss://")):
            raise ValueError("the session cache URL must start with redis:// or rediss://")
        # A bounded pool: gevent workers run many requests at once, and an unbounded pool would
        # open one Redis connection per concurrent request. Waiting for a free connection is
        # bounded by the response timeout like a command.
        pool = redis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=response_timeout_s,
            socket_connect_timeout=connect_timeout_s,
            socket_timeout=response_timeout_s,
            retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
        )
        return cls(redis.Redis(connection_pool=pool), cooldown_s=cooldown_s, clock=clock)

    @property
    def backend(self) -> str:
        """Always `redis`."""
        return "redis"

    @property
    def client(self) -> redis.Redis:
        """The underlying client (for the lead's start-up log and for tests)."""
        return self._client

    @staticmethod
    def redis_key(key: str) -> str:
        """The Redis key holding the binding of session `key`."""
        return f"{KEY_PREFIX}{key}"

    def get(self, key: str) -> SessionBinding | None:
        """The binding under `key`, or None when absent or undecodable."""
        with self._translate():
            raw = self._client.get(self.redis_key(key))
        return SessionBinding.from_json(_as_bytes(raw))

    def put(self, key: str, binding: SessionBinding, ttl_s: int) -> None:
        """`SET key value EX ttl`: replace any earlier binding."""
        _check_ttl(ttl_s)
        with self._translate():
            self._client.set(self.redis_key(key), binding.to_json(), ex=ttl_s)

    def put_if_absent(self, key: str, binding: SessionBinding, ttl_s: int) -> SessionBinding:
        """`SET key value EX ttl NX`; on a lost race, GET the winner and return it."""
        _check_ttl(ttl_s)
        name = self.redis_key(key)
        value = binding.to_json()
        # Three rounds cover the winner expiring between our SET and GET; a stored value we
        # cannot decode (another format) counts as absent and is replaced.
        for _ in range(3):
            with self._translate():
                if self._client.set(name, value, ex=ttl_s, nx=True):
                    return binding
                raw = _as_bytes(self._client.get(name))
                if raw is None:
                    continue
                winner = SessionBinding.from_json(raw)
                if winner is not None:
                    return winner
                self._client.set(name, value, ex=ttl_s)
                return binding
        return binding

    def ping(self) -> bool:
        """True when Redis answers PING now (ignores the cooldown, and ends it on success)."""
        try:
            answered = bool(self._client.ping())
        except redis.RedisError:
            return False
        if answered:
            with self._lock:
                self._down_until = 0.0
        return answered

    def close(self) -> None:
        """Close every pooled connection."""
        self._client.connection_pool.disconnect()

    @contextmanager
    def _translate(self) -> Iterator[None]:
        with self._lock:
            now = self._clock()
            if now < self._down_until:
                raise SessionStoreError(
                    f"redis session cache unavailable (cooling down after: {self._down_reason})"
                )
        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            with self._lock:
                self._down_until = self._clock() + self._cooldown_s
                self._down_reason = str(exc)
            raise SessionStoreError(f"redis session cache unavailable: {exc}") from exc
        except redis.RedisError as exc:
            raise SessionStoreError(f"redis session cache error: {exc}") from exc


def _as_bytes(raw: object) -> bytes | None:
    """GET's reply as bytes (None when the key is absent)."""
    if raw is None:
        return None
    if isinstance(raw, bytes):
        return raw
    if isinstance(raw, str):
        return raw.encode("utf-8")
    return None


def _check_ttl(ttl_s: int) -> None:
    if ttl_s < 1:
        raise ValueError(f"ttl_s must be at least 1 second, got {ttl_s}")
