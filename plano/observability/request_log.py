"""The request log: one JSON line per request (SPEC §8), to a file, stdout, or nowhere."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import IO

logger = logging.getLogger(__name__)
# Built once: json.dumps with options builds a new encoder on every call (~4 µs).
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)

FIELDS = (
    "request_id",
    "dialect",
    "endpoint",
    "requested_model",
    "alias_target",
    "route",
    "model",
    "attempts",
    "status",
    "latency_ms",
    "ttft_ms",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "session_id",
    "pinned",
    "stream",
    "error",
)


class RequestLog:
    """Appends one line per request; each line is a single write, so workers do not interleave."""

    def __init__(
        self,
        target: str,
        stdout: IO[str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._target = target
        self._fd: int | None = None
        self._stdout = stdout
        self._clock = clock
        # The formatted date and time of the last whole second seen: strftime on every line
        # cost more than the rest of the timestamp.
        self._second = -1
        self._second_text = ""
        if target not in ("-", "off"):
            self._fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    @property
    def enabled(self) -> bool:
        """False when the log is `off`."""
        return self._target != "off"

    def write(self, **fields: object) -> None:
        """Write one record; a failed write is logged, never raised: it must not fail a call."""
        if self._target == "off":
            return
        record: dict[str, object] = {"time": self._timestamp(self._clock())}
        record.update(fields)
        line = _ENCODER.encode(record) + "\n"
        try:
            if self._fd is not None:
                os.write(self._fd, line.encode())
            else:
                out = self._stdout or sys.stdout
                out.write(line)
                out.flush()
        except (OSError, ValueError):
            logger.exception("could not write the request log")

    def _timestamp(self, now: float) -> str:
        """`now` as ISO 8601 UTC with milliseconds, e.g. 2026-11-30T09:12:31.649Z."""
        millis = int(now * 1000)
        second = millis // 1000
        if second != self._second:
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._second_text}.{millis % 1000:03d}Z"

    def close(self) -> None:
        """Close the file, if any."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
