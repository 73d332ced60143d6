"""parse_line: request records in, everything else skipped."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from plano.obs.record import parse_line

LINE = {
    "time": "2026-11-24T21:40:00.123Z",
    "request_id": "r1",
    "dialect": "openai",
    "endpoint": "chat_completions",
    "requested_model": "gpt-4o",
    "alias_target": "openai/gpt-4o",
    "route": None,
    "model": "openai/gpt-4o",
    "attempts": 1,
    "status": 200,
    "latency_ms": 812.5,
    "ttft_ms": None,
    "prompt_tokens": 1000,
    "completion_tokens": 500,
    "cached_tokens": 200,
    "session_id": None,
    "pinned": False,
    "stream": True,
    "error": None,
}


def test_parses_a_request_line() -> None:
    record = parse_line(json.dumps(LINE) + "\n")
    assert record is not None
    assert record.time == datetime(2026, 11, 24, 21, 40, 0, 123000, tzinfo=UTC)
    assert record.model == "openai/gpt-4o"
    assert record.priced_model == "openai/gpt-4o"
    assert (record.prompt_tokens, record.completion_tokens, record.cached_tokens) == (
        1000,
        500,
        200,
    )
    assert record.latency_ms == 812.5 and record.ttft_ms is None
    assert record.stream and not record.pinned and not record.is_decision


def test_bytes_and_decision_lines() -> None:
    record = parse_line(json.dumps({**LINE, "endpoint": "routing"}).encode())
    assert record is not None and record.is_decision


def test_priced_model_falls_back_to_the_requested_one() -> None:
    record = parse_line(json.dumps({**LINE, "model": None}))
    assert record is not None and record.priced_model == "gpt-4o"


@pytest.mark.parametrize(
    "line",
    [
        "",
        "   ",
        '127.0.0.1 - - [24/Nov/2026:21:40:01 +0000] "POST /v1/chat/completions HTTP/1.1" 200 5',
        "[2026-11-24 21:39:59 +0000] [4242] [INFO] Booting worker with pid: 4242",
        "{not json",
        '{"time": "2026-11-24T21:40:00.123Z", "status": 200',
        "[1, 2, 3]",
        '{"level": "info", "msg": "not a request"}',
        json.dumps({**LINE, "status": "200"}),
        json.dumps({k: v for k, v in LINE.items() if k != "request_id"}),
    ],
)
def test_other_lines_are_skipped(line: str) -> None:
    assert parse_line(line) is None


def test_bad_field_types_become_unknown() -> None:
    record = parse_line(
        json.dumps({**LINE, "time": "yesterday", "prompt_tokens": -3, "latency_ms": "slow"})
    )
    assert record is not None
    assert record.time is None and record.prompt_tokens is None and record.latency_ms is None
