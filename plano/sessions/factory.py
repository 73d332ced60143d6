"""Building the configured SessionStore, and the start-up warning about the memory backend."""

from __future__ import annotations

from plano.config.model import RoutingSettings, SessionCacheType
from plano.errors import ConfigError
from plano.sessions.memory import MemorySessionStore
from plano.sessions.redis_store import RedisSessionStore
from plano.sessions.store import SessionStore


def build_session_store(settings: RoutingSettings) -> SessionStore:
    """The store `routing.session_cache` names; connects to nothing (Redis is lazy)."""
    cache = settings.session_cache
    if cache.type is SessionCacheType.REDIS:
        if not cache.url:
            raise ConfigError(["routing.session_cache.url is required when type is redis"])
        return RedisSessionStore.from_url(cache.url)
    return MemorySessionStore(settings.session_max_entries)


def memory_backend_warning(workers: int) -> str | None:
    """The start-up warning for the memory backend under several workers, or None for one."""
    if workers <= 1:
        return None
    return (
        f"the memory session cache is per worker process: with {workers} workers affinity holds "
        "only within one worker; use routing.session_cache.type: redis"
    )
