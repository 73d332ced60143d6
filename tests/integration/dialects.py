"""Checks that a reply is well formed in the client's dialect (SPEC §2), for the fault suites.

`assert_error_body(body, dialect)` parses an error body: OpenAI
`{"error": {"message", "type", "param", "code"}}`, Anthropic `{"type": "error", "error": {"type",
"message"}}`. `assert_completion(body, dialect)` parses a whole reply. `assert_stream_error`
parses an SSE body that must end with the dialect's error event (SPEC §4).
"""

from __future__ import annotations

import json
from typing import Any

OPENAI = "openai"
ANTHROPIC = "anthropic"

OPENAI_PATH = "/v1/chat/completions"
ANTHROPIC_PATH = "/v1/messages"


def path_of(dialect: str) -> str:
    """The proxy path of `dialect`."""
    return ANTHROPIC_PATH if dialect == ANTHROPIC else OPENAI_PATH


def dialect_of(path: str) -> str:
    """The dialect plano answers in on `path` (Anthropic only on the Messages paths)."""
    return ANTHROPIC if path.split("?")[0].endswith("/messages") else OPENAI


def body_for(
    dialect: str, model: str | None, text: str = "hello", **extra: object
) -> dict[str, Any]:
    """A minimal valid request body in `dialect`."""
    body: dict[str, object] = {"messages": [{"role": "user", "content": text}]}
    if model is not None:
        body["model"] = model
    if dialect == ANTHROPIC:
        body["max_tokens"] = 32
    body.update(extra)
    return body


def assert_error_body(raw: bytes, dialect: str) -> dict[str, Any]:
    """`raw` is a JSON error in `dialect`; returns the inner error object."""
    assert b"Traceback" not in raw, raw[:500]
    parsed = json.loads(raw)
    assert isinstance(parsed, dict), raw[:500]
    error = parsed.get("error")
    assert isinstance(error, dict), raw[:500]
    assert isinstance(error.get("message"), str) and error["message"], raw[:500]
    assert isinstance(error.get("type"), str) and error["type"], raw[:500]
    if dialect == ANTHROPIC:
        assert parsed.get("type") == "error", raw[:500]
        assert set(parsed) == {"type", "error"}, raw[:500]
    else:
        assert set(error) >= {"message", "type", "param", "code"}, raw[:500]
        assert set(parsed) == {"error"}, raw[:500]
    return error


def assert_completion(raw: bytes, dialect: str) -> dict[str, Any]:
    """`raw` is a whole, successful reply in `dialect`; returns it parsed."""
    parsed = json.loads(raw)
    assert isinstance(parsed, dict), raw[:500]
    if dialect == ANTHROPIC:
        assert parsed.get("type") == "message", raw[:500]
        assert isinstance(parsed.get("content"), list), raw[:500]
    else:
        assert parsed.get("object") == "chat.completion", raw[:500]
        assert isinstance(parsed.get("choices"), list) and parsed["choices"], raw[:500]
    return parsed


def sse_events(raw: bytes) -> list[tuple[str | None, str]]:
    """The (event name, data) pairs of an SSE body."""
    events: list[tuple[str | None, str]] = []
    for block in raw.replace(b"\r\n", b"\n").split(b"\n\n"):
        name: str | None = None
        data: list[str] = []
        for line in block.decode().split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if data:
            events.append((name, "\n".join(data)))
    return events


def assert_stream_error(raw: bytes, dialect: str) -> dict[str, Any]:
    """An SSE body whose last event is the dialect's error event; returns its error object."""
    events = sse_events(raw)
    assert events, raw[:500]
    name, data = events[-1]
    parsed = json.loads(data)
    error = parsed["error"]
    assert isinstance(error, dict), data
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str) and error["type"]
    if dialect == ANTHROPIC:
        assert name == "error" and parsed["type"] == "error", events[-1]
        assert sum(1 for n, _ in events if n == "message_stop") == 0
    else:
        assert "code" in error
        assert all(d != "[DONE]" for _, d in events), "no [DONE] after an error"
    return error


def assert_stream_complete(raw: bytes, dialect: str) -> None:
    """An SSE body that ended normally in `dialect`."""
    events = sse_events(raw)
    if dialect == ANTHROPIC:
        names = [n for n, _ in events]
        assert names.count("message_start") == 1 and names.count("message_stop") == 1, names
        assert names[-1] == "message_stop", names
    else:
        assert events[-1][1] == "[DONE]", events[-3:]
        for _, data in events[:-1]:
            assert "error" not in json.loads(data), data
