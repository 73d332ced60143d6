"""One request-log line as a typed record; anything else in the stream is skipped."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

ROUTING_ENDPOINT = "routing"


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """A request as the gateway logged it (SPEC §8); token counts are None when not reported."""

    time: datetime | None
    request_id: str | None
    dialect: str | None
    endpoint: str | None
    requested_model: str | None
    alias_target: str | None
    route: str | None
    model: str | None
    attempts: int
    status: int
    latency_ms: float | None
    ttft_ms: float | None
    prompt_tokens: int | None  # includes cached
    completion_tokens: int | None
    cached_tokens: int | None
    session_id: str | None
    pinned: bool
    stream: bool
    error: str | None

    @property
    def is_decision(self) -> bool:
        """True for a decision-API line: it counts in route share, never in tokens or cost."""
        return self.endpoint == ROUTING_ENDPOINT

    @property
    def priced_model(self) -> str | None:
        """The model a cost is looked up for: the one served, else the one requested."""
        return self.model or self.requested_model


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _tokens(value: object) -> int | None:
    count = _int(value)
    return count if count is not None and count >= 0 else None


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def parse_line(line: str | bytes) -> RequestRecord | None:
    """The record on this line, or None for access logs, malformed JSON and foreign objects."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", errors="replace")
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    status = _int(data.get("status"))
    # Other JSON lines (say, a structured app log) lack a request's identity and status.
    if status is None or "request_id" not in data or "endpoint" not in data:
        return None
    return RequestRecord(
        time=_time(data.get("time")),
        request_id=_str(data.get("request_id")),
        dialect=_str(data.get("dialect")),
        endpoint=_str(data.get("endpoint")),
        requested_model=_str(data.get("requested_model")),
        alias_target=_str(data.get("alias_target")),
        route=_str(data.get("route")),
        model=_str(data.get("model")),
        attempts=_int(data.get("attempts")) or 0,
        status=status,
        latency_ms=_float(data.get("latency_ms")),
        ttft_ms=_float(data.get("ttft_ms")),
        prompt_tokens=_tokens(data.get("prompt_tokens")),
        completion_tokens=_tokens(data.get("completion_tokens")),
        cached_tokens=_tokens(data.get("cached_tokens")),
        session_id=_str(data.get("session_id")),
        pinned=data.get("pinned") is True,
        stream=data.get("stream") is True,
        error=_str(data.get("error")),
    )
