"""SSE decoding and encoding: events come out whole whatever the chunk boundaries."""

from __future__ import annotations

import pytest

from plano.translation.sse import SseDecoder, SseEvent, dumps, encode_event


def feed_all(stream: bytes, size: int) -> list[SseEvent]:
    """Every event of `stream` fed in chunks of `size` bytes, flush included."""
    decoder = SseDecoder()
    events: list[SseEvent] = []
    for start in range(0, len(stream), size):
        events.extend(decoder.feed(stream[start : start + size]))
    events.extend(decoder.flush())
    return events


CASES = [
    ("one event", b"data: hello\n\n", [SseEvent(None, "hello")]),
    (
        "named events",
        b'event: ping\ndata: {}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n',
        [SseEvent("ping", "{}"), SseEvent("message_stop", '{"type":"message_stop"}')],
    ),
    (
        "CRLF lines",
        b"event: a\r\ndata: 1\r\n\r\ndata: 2\r\n\r\n",
        [SseEvent("a", "1"), SseEvent(None, "2")],
    ),
    (
        "CR-only lines",
        b"event: a\rdata: 1\r\rdata: 2\r\r",
        [SseEvent("a", "1"), SseEvent(None, "2")],
    ),
    (
        "comments are skipped",
        b": keep-alive\n\n: OPENROUTER PROCESSING\ndata: x\n\n",
        [SseEvent(None, "x")],
    ),
    ("multi-line data", b"data: a\ndata: b\ndata:\n\n", [SseEvent(None, "a\nb\n")]),
    ("no space after colon", b"data:x\n\n", [SseEvent(None, "x")]),
    ("only one space is stripped", b"data:  x\n\n", [SseEvent(None, " x")]),
    ("field without colon", b"data\n\n", [SseEvent(None, "")]),
    ("unknown fields ignored", b"id: 7\nretry: 10\ndata: x\n\n", [SseEvent(None, "x")]),
    ("event without data is not dispatched", b"event: ping\n\ndata: x\n\n", [SseEvent(None, "x")]),
    (
        "final event without blank line",
        b"data: a\n\ndata: [DONE]",
        [SseEvent(None, "a"), SseEvent(None, "[DONE]")],
    ),
    ("final event with one newline", b"data: [DONE]\n", [SseEvent(None, "[DONE]")]),
    ("final event with CRLF", b"data: [DONE]\r\n", [SseEvent(None, "[DONE]")]),
    (
        "multi-byte UTF-8",
        'data: {"t":"héllo 日本 🎉"}\n\n'.encode(),
        [SseEvent(None, '{"t":"héllo 日本 🎉"}')],
    ),
    ("extra blank lines", b"\n\n\ndata: x\n\n\n\n", [SseEvent(None, "x")]),
    ("empty stream", b"", []),
]


@pytest.mark.parametrize(("stream", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
@pytest.mark.parametrize("size", [1, 2, 3, 7, 1 << 16])
def test_decoder_any_chunking(stream: bytes, expected: list[SseEvent], size: int) -> None:
    assert feed_all(stream, size) == expected


def test_decoder_returns_events_as_soon_as_complete() -> None:
    decoder = SseDecoder()
    assert decoder.feed(b"data: a\n") == []
    assert decoder.feed(b"\ndata: b") == [SseEvent(None, "a")]
    assert decoder.feed(b"\n\n") == [SseEvent(None, "b")]
    assert decoder.flush() == []


def test_decoder_cr_at_chunk_end_is_not_a_blank_line() -> None:
    # "\r" then "\n" in the next chunk is one line break, not two.
    decoder = SseDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\ndata: b\r\n\r\n") == [SseEvent(None, "a\nb")]


def test_flush_resets() -> None:
    decoder = SseDecoder()
    decoder.feed(b"data: a")
    assert decoder.flush() == [SseEvent(None, "a")]
    assert decoder.flush() == []
    assert decoder.feed(b"data: b\n\n") == [SseEvent(None, "b")]


@pytest.mark.parametrize(
    ("data", "expected"),
    [('{"a": [1, 2]}', {"a": [1, 2]}), ("[DONE]", None), ("", None), ("3", 3)],
)
def test_json_or_none(data: str, expected: object) -> None:
    assert SseEvent(None, data).json_or_none() == expected


@pytest.mark.parametrize(
    ("data", "name", "expected"),
    [
        ({"a": 1, "b": "é"}, None, 'data: {"a":1,"b":"é"}\n\n'.encode()),
        ({"type": "ping"}, "ping", b'event: ping\ndata: {"type":"ping"}\n\n'),
        ("[DONE]", None, b"data: [DONE]\n\n"),
        ("already encoded", "x", b"event: x\ndata: already encoded\n\n"),
        ("two\nlines", None, b"data: two\ndata: lines\n\n"),
    ],
)
def test_encode_event(data: object, name: str | None, expected: bytes) -> None:
    assert encode_event(data, name) == expected


@pytest.mark.parametrize(
    ("data", "name"),
    [({"x": "a\nb", "y": [1, None]}, "evt"), ("line 1\nline 2\n", None), ("", None), ("日本", "n")],
)
def test_encode_decode_round_trip(data: object, name: str | None) -> None:
    text = data if isinstance(data, str) else dumps(data)
    assert feed_all(encode_event(data, name), 1) == [SseEvent(name, text)]


def test_dumps_is_compact_and_keeps_unicode() -> None:
    assert dumps({"k": ["é", 1.5, None]}) == '{"k":["é",1.5,null]}'
