"""Whether a failed attempt moves on to the next candidate (SPEC §4, fallback)."""

from __future__ import annotations

import enum


class Failure(enum.Enum):
    """How an attempt failed."""

    STATUS = "status"  # the provider answered an HTTP error
    CONNECT = "connect"  # could not reach it, or it dropped the connection
    TIMEOUT = "timeout"


def should_fall_back(failure: Failure, status: int | None, bytes_sent: bool) -> bool:
    """True on 429, any 5xx, connect errors and timeouts, before the client got a byte."""
    if bytes_sent:
        return False
    if failure is not Failure.STATUS:
        return True
    return status is not None and (status == 429 or status >= 500)
