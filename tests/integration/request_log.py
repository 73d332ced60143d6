"""Reading plano's request log (one JSON object per line) in integration tests."""

from __future__ import annotations

import json
import time
from pathlib import Path


def read_records(path: Path) -> list[dict[str, object]]:
    """Every record in the request log at `path` ([] while the file does not exist)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def wait_for_log_record(path: Path, request_id: str, timeout_s: float = 5.0) -> dict[str, object]:
    """The one request-log line for `request_id`; streams log when they end, so wait for it.

    Polls until a line for `request_id` is there or `timeout_s` runs out, then asserts that there
    is exactly one.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        found = [r for r in read_records(path) if r["request_id"] == request_id]
        if found or time.monotonic() > deadline:
            assert len(found) == 1, f"{len(found)} log lines for {request_id}"
            return dict(found[0])
        time.sleep(0.02)
