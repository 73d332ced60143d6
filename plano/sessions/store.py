"""The SessionStore role: get and put affinity bindings under a session key with a TTL."""

from __future__ import annotations

from typing import Protocol

from plano.routing.affinity import SessionBinding


class SessionStoreError(Exception):
    """The backend failed (unreachable, timed out, refused): the caller fails open and counts it."""


class SessionStore(Protocol):
    """Where bindings live; every method raises SessionStoreError on a backend failure.

    TTLs are absolute from the store: reading a binding never extends it.
    """

    @property
    def backend(self) -> str:
        """`memory` or `redis`: the label used in metrics and logs."""
        ...

    def get(self, key: str) -> SessionBinding | None:
        """The live binding under `key`, or None (absent, expired or undecodable)."""
        ...

    def put(self, key: str, binding: SessionBinding, ttl_s: int) -> None:
        """Store `binding` under `key` for `ttl_s` seconds, replacing any earlier one."""
        ...

    def put_if_absent(self, key: str, binding: SessionBinding, ttl_s: int) -> SessionBinding:
        """Store `binding` unless a live one exists; return the binding in force afterwards."""
        ...

    def ping(self) -> bool:
        """True when the backend answers (for /readyz); never raises."""
        ...

    def close(self) -> None:
        """Release connections; the store is not used afterwards."""
        ...
