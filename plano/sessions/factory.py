"""Building the configured SessionStore, and the start-up warning about the memory backend."""

from __future__ import annotations

import logging

from plano.config.model import RoutingSettings, SessionCacheType
from plano.errors import ConfigError
from plano.sessions.memory import MemorySessionStore
from plano.sessions.store import SessionStore

logger = logging.getLogger(__name__)


def build_session_store(settings: RoutingSettings) -> SessionStore:
    """The store `routing.session_cache` names; connects to nothing (Redis is lazy)."""
    cache = settings.session_cache
    if cache.type is SessionCacheType.REDIS:
        if not cache.url:
            raise ConfigError(["routing.session_cache.url is required when type is redis"])
        # Imported here: redis costs about 0.2 s of worker start-up, for nothing with `memory`.
        from plano.sessions.redis_store import RedisSessionStore

        return RedisSessionStore.from_url(cache.url)
    return MemorySessionStore(settings.session_max_entries)


def check_at_start(store: SessionStore) -> bool:
    """Ping the store once at worker start and log the outcome; never raises (SPEC §6).

    An unreachable Redis does not stop plano: requests are served without affinity until it
    answers, and /readyz names the session cache as degraded meanwhile.
    """
    if store.ping():
        logger.info("session cache %s reachable", store.backend)
        return True
    logger.warning(
        "session cache %s unreachable at start-up: serving without affinity until it answers",
        store.backend,
    )
    return False
