"""Streams through all four converters: provider events in, the client's dialect out.

Every output is decoded again and checked for the protocol's invariants, then parsed by the
official SDK as a client would.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletion

from plano.errors import UpstreamError, UpstreamRateLimited
from plano.routing.call import Dialect
from plano.translation.responses import Usage
from plano.translation.sse import SseDecoder, SseEvent, encode_event
from plano.translation.streams import StreamConverter, stream_converter
from tests.unit.translation.sdk import anthropic_client, openai_client, replying
from tests.unit.translation.stream_data import (
    ANTHROPIC_STREAMS,
    ANTHROPIC_TOOLS,
    OPENAI_STREAMS,
    OPENAI_TEXT,
    OPENAI_TOOLS,
    Stream,
)

OPENAI = Dialect.OPENAI
ANTHROPIC = Dialect.ANTHROPIC
ALL_STREAMS = {**ANTHROPIC_STREAMS, **OPENAI_STREAMS}
SSE = "text/event-stream"


def upstream_of(stream: Stream) -> Dialect:
    return ANTHROPIC if stream in ANTHROPIC_STREAMS.values() else OPENAI


def relay(converter: StreamConverter, wire: bytes, chunk_size: int, finish: bool = True) -> bytes:
    """What the gateway does: decode the provider's bytes, convert, then finish."""
    decoder = SseDecoder()
    out: list[bytes] = []
    for start in range(0, len(wire), chunk_size):
        for event in decoder.feed(wire[start : start + chunk_size]):
            out.extend(converter.feed(event))
    for event in decoder.flush():
        out.extend(converter.feed(event))
    if finish:
        out.extend(converter.finish())
    return b"".join(out)


def decode(raw: bytes) -> list[SseEvent]:
    decoder = SseDecoder()
    events = decoder.feed(raw)
    assert decoder.flush() == [], "the output must end with a blank line"
    return events


# ------------------------------------------------------------------ reading Anthropic output


@dataclass
class Reassembled:
    text: str = ""
    tools: list[tuple[str, str, object]] = field(default_factory=list)
    stop_reason: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)


def read_anthropic(events: Iterable[SseEvent]) -> Reassembled:
    """An Anthropic stream checked against the protocol, then reassembled."""
    payloads = []
    for event in events:
        payload = event.json_or_none()
        assert isinstance(payload, dict), event
        assert event.name == payload["type"], "event name and payload type agree"
        payloads.append(payload)
    kinds = [p["type"] for p in payloads]
    assert kinds[0] == "message_start" and kinds.count("message_start") == 1
    assert kinds[-1] == "message_stop" and kinds.count("message_stop") == 1
    assert kinds.count("message_delta") == 1 and kinds[-2] == "message_delta"
    out = Reassembled()
    out.usage = dict(payloads[0]["message"]["usage"])
    blocks: list[dict[str, object]] = []
    buffers: list[str] = []
    open_index: int | None = None
    for payload in payloads[1:-2]:
        kind = payload["type"]
        if kind == "ping":
            continue
        index = payload["index"]
        if kind == "content_block_start":
            assert open_index is None, "one block open at a time"
            assert index == len(blocks), "block indexes are consecutive from 0"
            blocks.append(payload["content_block"])
            buffers.append("")
            open_index = index
        elif kind == "content_block_delta":
            assert index == open_index, "deltas go to the open block"
            delta = payload["delta"]
            if delta["type"] == "text_delta":
                assert blocks[index]["type"] == "text"
                buffers[index] += delta["text"]
            elif delta["type"] in ("thinking_delta", "signature_delta"):
                assert blocks[index]["type"] == "thinking"
            else:
                assert delta["type"] == "input_json_delta"
                assert blocks[index]["type"] == "tool_use"
                buffers[index] += delta["partial_json"]
        else:
            assert kind == "content_block_stop", kind
            assert index == open_index, "each block stops once, after it started"
            open_index = None
    assert open_index is None, "every block is stopped before message_delta"
    for block, buffer in zip(blocks, buffers, strict=True):
        if block["type"] == "text":
            out.text += str(block["text"]) + buffer
        elif block["type"] != "thinking":
            assert block["type"] == "tool_use"
            arguments = json.loads(buffer) if buffer else block["input"]
            out.tools.append((str(block["id"]), str(block["name"]), arguments))
    delta = payloads[-2]
    out.stop_reason = delta["delta"]["stop_reason"]
    out.usage.update(delta["usage"])
    return out


# ------------------------------------------------------------------ reading OpenAI output


def read_openai(events: list[SseEvent], include_usage: bool) -> tuple[Reassembled, str | None]:
    """An OpenAI stream checked against the protocol, then reassembled (and its finish)."""
    assert events[-1].data == "[DONE]" and [e.data for e in events].count("[DONE]") == 1
    chunks = []
    for event in events[:-1]:
        assert event.name is None
        chunk = event.json_or_none()
        assert isinstance(chunk, dict), event
        assert chunk["object"] == "chat.completion.chunk"
        chunks.append(chunk)
    assert len({c["id"] for c in chunks}) == 1, "one id for the whole stream"
    out = Reassembled()
    finishes: list[str] = []
    calls: dict[int, dict[str, str]] = {}
    usage_chunks = [c for c in chunks if not c["choices"] and c.get("usage")]
    if include_usage:
        assert len(usage_chunks) == 1 and chunks[-1] is usage_chunks[0], "usage chunk last"
        out.usage = dict(usage_chunks[0]["usage"])
    else:
        assert usage_chunks == []
    for chunk in chunks:
        for choice in chunk["choices"]:
            assert not finishes, "nothing after the finish chunk but usage"
            delta = choice["delta"]
            if isinstance(delta.get("content"), str):
                out.text += delta["content"]
            for call in delta.get("tool_calls") or []:
                slot = calls.setdefault(call["index"], {"id": "", "name": "", "arguments": ""})
                if call.get("id"):
                    assert not slot["id"], "a call's id comes once"
                    slot["id"] = call["id"]
                function = call.get("function") or {}
                slot["name"] += function.get("name") or ""
                slot["arguments"] += function.get("arguments") or ""
            if choice.get("finish_reason"):
                finishes.append(choice["finish_reason"])
    assert len(finishes) == 1, "exactly one finish_reason"
    assert sorted(calls) == list(range(len(calls))), "tool call indexes consecutive from 0"
    for index in sorted(calls):
        slot = calls[index]
        out.tools.append((slot["id"], slot["name"], json.loads(slot["arguments"])))
    first = chunks[0]["choices"][0]["delta"] if chunks[0]["choices"] else {}
    if upstream_role := first.get("role"):
        assert upstream_role == "assistant"
    return out, finishes[0]


# ------------------------------------------------------------------ the four converters


def expected_anthropic_usage(usage: Usage | None) -> dict[str, object]:
    usage = usage or Usage()
    return {
        "input_tokens": usage.prompt_tokens - usage.cached_tokens,
        "output_tokens": usage.completion_tokens,
        "cache_read_input_tokens": usage.cached_tokens,
    }


@pytest.mark.parametrize("chunk_size", [1, 5, 1 << 20])
@pytest.mark.parametrize("name", list(ALL_STREAMS))
def test_to_anthropic(name: str, chunk_size: int) -> None:
    stream = ALL_STREAMS[name]
    upstream = upstream_of(stream)
    converter = stream_converter(ANTHROPIC, upstream, "upstream-model", False)
    raw = relay(converter, stream.wire(), chunk_size)
    got = read_anthropic(decode(raw))
    assert got.text == stream.text
    assert got.tools == stream.tools
    assert got.stop_reason == stream.stop_reason
    assert converter.usage == stream.usage
    if upstream is OPENAI:
        assert got.usage == {
            "input_tokens": 0,
            **expected_anthropic_usage(stream.usage),
        }
    # The official SDK accumulates the same message.
    client = anthropic_client(replying(200, raw, SSE))
    with client.messages.stream(
        model="m", max_tokens=10, messages=[{"role": "user", "content": "x"}]
    ) as events:
        message = events.get_final_message()
    texts = [b.text for b in message.content if b.type == "text"]
    assert "".join(texts) == stream.text
    tools = [(b.id, b.name, b.input) for b in message.content if b.type == "tool_use"]
    assert tools == stream.tools
    assert message.stop_reason == stream.stop_reason


@pytest.mark.parametrize("include_usage", [True, False])
@pytest.mark.parametrize("chunk_size", [1, 7, 1 << 20])
@pytest.mark.parametrize("name", list(ALL_STREAMS))
def test_to_openai(name: str, chunk_size: int, include_usage: bool) -> None:
    stream = ALL_STREAMS[name]
    upstream = upstream_of(stream)
    converter = stream_converter(OPENAI, upstream, "upstream-model", include_usage)
    raw = relay(converter, stream.wire(), chunk_size)
    reported = include_usage and stream.usage is not None
    got, finish = read_openai(decode(raw), reported)
    assert got.text == stream.text
    assert got.tools == stream.tools
    assert finish == stream.finish_reason
    assert converter.usage == stream.usage
    if reported:
        usage = stream.usage or Usage()
        assert got.usage["prompt_tokens"] == usage.prompt_tokens
        assert got.usage["completion_tokens"] == usage.completion_tokens
        assert got.usage["total_tokens"] == usage.prompt_tokens + usage.completion_tokens
        details = got.usage.get("prompt_tokens_details") or {"cached_tokens": 0}
        assert details["cached_tokens"] == usage.cached_tokens
    # The official SDK accumulates the same completion.
    client = openai_client(replying(200, raw, SSE))
    with client.chat.completions.stream(
        model="m", messages=[{"role": "user", "content": "x"}]
    ) as events:
        try:
            completion: ChatCompletion = events.get_final_completion()
        except openai.LengthFinishReasonError as exc:  # raised after accumulating
            completion = exc.completion
    choice = completion.choices[0]
    assert (choice.message.content or "") == stream.text
    tools = [
        (c.id, c.function.name, json.loads(c.function.arguments))
        for c in choice.message.tool_calls or []
        if c.type == "function"
    ]
    assert tools == stream.tools
    assert choice.finish_reason == stream.finish_reason
    if reported:
        assert completion.usage is not None
        assert completion.usage.prompt_tokens == (stream.usage or Usage()).prompt_tokens
    else:
        assert completion.usage is None


def test_openai_passthrough_keeps_events() -> None:
    converter = stream_converter(OPENAI, OPENAI, "m", True)
    raw = relay(converter, OPENAI_TOOLS.wire(), 3)
    assert [e.json_or_none() or e.data for e in decode(raw)] == [
        data for _, data in OPENAI_TOOLS.events
    ]


def test_openai_passthrough_drops_usage_chunk_when_not_asked() -> None:
    converter = stream_converter(OPENAI, OPENAI, "m", False)
    raw = relay(converter, OPENAI_TEXT.wire(), 1 << 20)
    expected = [data for _, data in OPENAI_TEXT.events if not _is_usage_chunk(data)]
    assert [e.json_or_none() or e.data for e in decode(raw)] == expected
    assert len(expected) == len(OPENAI_TEXT.events) - 1
    assert converter.usage == OPENAI_TEXT.usage


def _is_usage_chunk(data: object) -> bool:
    return isinstance(data, dict) and not data["choices"] and data.get("usage") is not None


def test_anthropic_passthrough_keeps_events() -> None:
    converter = stream_converter(ANTHROPIC, ANTHROPIC, "m", False)
    raw = relay(converter, ANTHROPIC_TOOLS.wire(), 2)
    assert [(e.name, e.json_or_none()) for e in decode(raw)] == ANTHROPIC_TOOLS.events


def test_openai_done_added_when_provider_omits_it() -> None:
    events = [e for e in OPENAI_TEXT.events if e[1] != "[DONE]"]
    wire = b"".join(encode_event(json.dumps(data)) for _, data in events)
    raw = relay(stream_converter(OPENAI, OPENAI, "m", True), wire, 1 << 20)
    assert decode(raw)[-1].data == "[DONE]"


def test_anthropic_to_openai_ids_and_model() -> None:
    converter = stream_converter(OPENAI, ANTHROPIC, "fallback", False)
    chunks = [e.json_or_none() for e in decode(relay(converter, ANTHROPIC_TOOLS.wire(), 99))]
    first = chunks[0]
    assert isinstance(first, dict)
    assert first["id"] == "chatcmpl-msg_014p7gG3wDgGV9EUtLvnow3U"
    assert first["model"] == "claude-sonnet-4-5-20250929"
    assert first["choices"][0]["delta"]["role"] == "assistant"


def test_openai_to_anthropic_message_start() -> None:
    converter = stream_converter(ANTHROPIC, OPENAI, "fallback", False)
    events = decode(relay(converter, OPENAI_TEXT.wire(), 99))
    start = events[0].json_or_none()
    assert isinstance(start, dict)
    message = start["message"]
    assert message["id"] == "msg_chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT"
    assert message["model"] == "gpt-4o-2024-08-06"
    assert message["role"] == "assistant" and message["content"] == []


def test_openai_to_anthropic_empty_stream_is_well_formed() -> None:
    converter = stream_converter(ANTHROPIC, OPENAI, "gpt-x", False)
    raw = relay(converter, encode_event("[DONE]"), 1)
    got = read_anthropic(decode(raw))
    assert got.text == "" and got.tools == [] and got.stop_reason == "end_turn"


# ------------------------------------------------------------------ cut streams


CONVERSIONS = [(c, u) for c in (OPENAI, ANTHROPIC) for u in (OPENAI, ANTHROPIC)]


@pytest.mark.parametrize(("client", "upstream"), CONVERSIONS, ids=lambda d: d.value)
def test_cut_stream_raises(client: Dialect, upstream: Dialect) -> None:
    streams = ANTHROPIC_STREAMS if upstream is ANTHROPIC else OPENAI_STREAMS
    for stream in streams.values():
        for cut in range(stream.complete_at):
            wire = replace(stream, events=stream.events[:cut]).wire()
            converter = stream_converter(client, upstream, "m", True)
            with pytest.raises(UpstreamError, match="closed the stream"):
                relay(converter, wire, 1 << 20)
        for end in range(stream.complete_at, len(stream.events) + 1):
            wire = replace(stream, events=stream.events[:end]).wire()
            relay(stream_converter(client, upstream, "m", True), wire, 1 << 20)


def test_usage_known_before_a_cut() -> None:
    # A stream cut after message_start still reports the prompt it was billed for.
    wire = replace(ANTHROPIC_TOOLS, events=ANTHROPIC_TOOLS.events[:4]).wire()
    for client in (OPENAI, ANTHROPIC):
        converter = stream_converter(client, ANTHROPIC, "m", False)
        relay(converter, wire, 1 << 20, finish=False)
        assert converter.usage == Usage(prompt_tokens=572, completion_tokens=2, cached_tokens=100)


# ------------------------------------------------------------------ provider errors mid-stream


ANTHROPIC_ERRORS: list[tuple[dict[str, object], int]] = [
    ({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, 529),
    ({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}, 429),
    ({"type": "error", "error": {"type": "api_error", "message": "Internal"}}, 502),
    ({"type": "error"}, 502),
]
OPENAI_ERRORS: list[tuple[dict[str, object], int]] = [
    (
        {
            "error": {
                "message": "Rate limit reached",
                "type": "requests",
                "param": None,
                "code": "rate_limit_exceeded",
            }
        },
        429,
    ),
    ({"error": {"message": "slow", "type": "rate_limit_error"}}, 429),
    ({"error": {"message": "The server had an error", "type": "server_error"}}, 502),
    ({"error": {"message": "Overloaded", "type": "overloaded_error"}}, 529),
    ({"error": "boom"}, 502),
]


@pytest.mark.parametrize(("client", "upstream"), CONVERSIONS, ids=lambda d: d.value)
def test_error_event_mid_stream_raises(client: Dialect, upstream: Dialect) -> None:
    if upstream is ANTHROPIC:
        head, errors = ANTHROPIC_TOOLS.events[:5], ANTHROPIC_ERRORS
    else:
        head, errors = OPENAI_TOOLS.events[:5], OPENAI_ERRORS
    for payload, status in errors:
        name = "error" if upstream is ANTHROPIC else None
        wire = replace(ANTHROPIC_TOOLS, events=[*head, (name, payload)]).wire()
        converter = stream_converter(client, upstream, "m", True)
        with pytest.raises(UpstreamError) as caught:
            relay(converter, wire, 1 << 20)
        error = caught.value
        assert error.status == status, payload
        assert isinstance(error, UpstreamRateLimited) is (status == 429)
        inner = payload.get("error")
        if isinstance(inner, dict) and "message" in inner:
            assert str(inner["message"]) in error.message


@pytest.mark.parametrize(("client", "upstream"), CONVERSIONS, ids=lambda d: d.value)
def test_garbage_event_raises(client: Dialect, upstream: Dialect) -> None:
    # A stream cut inside an event's data: flush() hands over the broken event, which must not
    # reach the client as if it were an event.
    name = "content_block_delta" if upstream is ANTHROPIC else None
    wire = encode_event('{"type": "content_block_delta", "ind', name)
    with pytest.raises(UpstreamError, match="not JSON"):
        relay(stream_converter(client, upstream, "m", True), wire, 1 << 20)


# ------------------------------------------------------------------ provider quirks


def test_openai_tool_calls_without_index() -> None:
    # Some OpenAI-compatible servers leave out `index`: the id, else the call in progress, decides.
    def chunk(delta: dict[str, object], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return encode_event({"id": "x", "model": "m", "choices": [choice]})

    wire = b"".join(
        [
            chunk({"role": "assistant", "content": None}),
            chunk({"tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": '{"a"'}}]}),
            chunk({"tool_calls": [{"function": {"arguments": ": 1}"}}]}),
            chunk({"tool_calls": [{"id": "c2", "function": {"name": "g", "arguments": "{}"}}]}),
            chunk({}, "tool_calls"),
            encode_event("[DONE]"),
        ]
    )
    raw = relay(stream_converter(ANTHROPIC, OPENAI, "m", False), wire, 4)
    got = read_anthropic(decode(raw))
    assert got.tools == [("c1", "f", {"a": 1}), ("c2", "g", {})]
    assert got.stop_reason == "tool_use"


def test_anthropic_tool_input_given_whole() -> None:
    events = [
        ANTHROPIC_TOOLS.events[0],
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "tool_use", "id": "t", "name": "f", "input": {"x": 1}},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        *ANTHROPIC_TOOLS.events[-2:],
    ]
    wire = replace(ANTHROPIC_TOOLS, events=events).wire()
    raw = relay(stream_converter(OPENAI, ANTHROPIC, "m", False), wire, 1 << 20)
    got, finish = read_openai(decode(raw), include_usage=False)
    assert got.tools == [("t", "f", {"x": 1})]
    assert finish == "tool_calls"
