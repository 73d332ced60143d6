"""convert_chunks: a same-dialect event is sent as received only when that changes nothing.

Every stream, split one event per chunk (as providers send them) or at arbitrary offsets, must
give the client the same bytes and the gateway the same usage as decoding and converting every
event; and the fast path must really carry the bulk of a pass-through stream.
"""

from __future__ import annotations

import json
import re

import pytest

from plano.errors import UpstreamError
from plano.routing.call import Dialect
from plano.translation.sse import SseDecoder, encode_event
from plano.translation.streams import StreamConverter, convert_chunks, stream_converter
from tests.unit.translation.stream_data import ANTHROPIC_STREAMS, OPENAI_STREAMS, Stream

ALL_STREAMS = {**ANTHROPIC_STREAMS, **OPENAI_STREAMS}
COMBINATIONS = [
    (name, client, include_usage)
    for name in ALL_STREAMS
    for client in (Dialect.OPENAI, Dialect.ANTHROPIC)
    for include_usage in (True, False)
]


def upstream_of(stream: Stream) -> Dialect:
    return Dialect.ANTHROPIC if stream in ANTHROPIC_STREAMS.values() else Dialect.OPENAI


def by_event(wire: bytes) -> list[bytes]:
    return [part + b"\n\n" for part in wire.split(b"\n\n") if part]


def by_size(wire: bytes, size: int) -> list[bytes]:
    return [wire[start : start + size] for start in range(0, len(wire), size)]


def event_by_event(converter: StreamConverter, chunks: list[bytes]) -> bytes:
    """The reference: decode and convert every event, then finish."""
    decoder = SseDecoder()
    out = [piece for chunk in chunks for e in decoder.feed(chunk) for piece in converter.feed(e)]
    out += [piece for e in decoder.flush() for piece in converter.feed(e)]
    out += converter.finish()
    return b"".join(out)


class Counting:
    """Wraps a converter and counts the events it had to decode and convert."""

    def __init__(self, inner: StreamConverter) -> None:
        self.inner = inner
        self.fed = 0

    @property
    def usage(self) -> object:
        return self.inner.usage

    def feed(self, event: object) -> list[bytes]:
        self.fed += 1
        return self.inner.feed(event)  # type: ignore[arg-type]

    def finish(self) -> list[bytes]:
        return self.inner.finish()

    def passes_raw(self, block: bytes) -> bool:
        return self.inner.passes_raw(block)


def converter_for(name: str, client: Dialect, include_usage: bool) -> StreamConverter:
    return stream_converter(client, upstream_of(ALL_STREAMS[name]), "model-x", include_usage)


@pytest.mark.parametrize("split", ["event", 1, 7, 64, 1 << 20])
@pytest.mark.parametrize(("name", "client", "include_usage"), COMBINATIONS)
def test_same_bytes_and_usage_as_converting_every_event(
    name: str, client: Dialect, include_usage: bool, split: str | int
) -> None:
    wire = ALL_STREAMS[name].wire()
    chunks = by_event(wire) if split == "event" else by_size(wire, int(split))
    reference = converter_for(name, client, include_usage)
    fast = converter_for(name, client, include_usage)
    expected = event_by_event(reference, chunks)
    assert b"".join(convert_chunks(chunks, SseDecoder(), fast)) == expected
    assert fast.usage == reference.usage


@pytest.mark.parametrize(("name", "client"), [(n, upstream_of(s)) for n, s in ALL_STREAMS.items()])
def test_most_events_of_a_same_dialect_stream_skip_decoding(name: str, client: Dialect) -> None:
    chunks = by_event(ALL_STREAMS[name].wire())
    counting = Counting(stream_converter(client, client, "model-x", True))
    list(convert_chunks(chunks, SseDecoder(), counting))  # type: ignore[arg-type]
    # decoded: Anthropic's message_start/_delta/_stop; OpenAI's finish, usage and [DONE] chunks
    assert counting.fed <= 4
    assert counting.fed < len(chunks) / 2 or len(chunks) <= 6


@pytest.mark.parametrize("client", [Dialect.OPENAI, Dialect.ANTHROPIC])
def test_a_cut_same_dialect_stream_still_raises(client: Dialect) -> None:
    stream = (
        OPENAI_STREAMS["openai_text"]
        if client is Dialect.OPENAI
        else ANTHROPIC_STREAMS["anthropic_tools"]
    )
    chunks = by_event(stream.wire())[:3]
    converter = stream_converter(client, client, "model-x", True)
    with pytest.raises(UpstreamError):
        list(convert_chunks(chunks, SseDecoder(), converter))


def openai_chunk(delta: dict[str, object], finish: str | None = None) -> bytes:
    payload = {"id": "c1", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return encode_event(json.dumps(payload, ensure_ascii=False, separators=(",", ":")))


PLAIN = openai_chunk({"content": "héllo 日本"})
OPENAI_BLOCKS = {
    "plain non-ASCII text": (PLAIN, True),
    "finish chunk": (openai_chunk({}, "stop"), False),
    "usage chunk": (encode_event('{"choices":[],"usage":{"prompt_tokens":1}}'), False),
    "null usage": (encode_event('{"choices":[],"usage":null}'), True),
    "error chunk": (encode_event('{"error":{"message":"overloaded"}}'), False),
    "done": (b"data: [DONE]\n\n", False),
    "CRLF lines": (PLAIN.replace(b"\n", b"\r\n"), False),
    "invalid UTF-8": (PLAIN.replace("日".encode(), b"\xe6\x97"), False),
    "two events": (PLAIN + PLAIN, False),
    "half an event": (PLAIN[:-1], False),
    "comment line": (b": keep-alive\n" + PLAIN, False),
    "not JSON": (b"data: {oops\n\n", False),
}


@pytest.mark.parametrize(("block", "passes"), OPENAI_BLOCKS.values(), ids=OPENAI_BLOCKS.keys())
def test_which_openai_blocks_pass_through_raw(block: bytes, passes: bool) -> None:
    converter = stream_converter(Dialect.OPENAI, Dialect.OPENAI, "model-x", True)
    assert converter.passes_raw(block) is passes


def test_after_the_finish_chunk_later_finish_reasons_pass_raw() -> None:
    converter = stream_converter(Dialect.OPENAI, Dialect.OPENAI, "model-x", True)
    finish = openai_chunk({}, "stop")
    assert not converter.passes_raw(finish)
    list(convert_chunks([finish], SseDecoder(), converter))
    assert converter.passes_raw(finish)


def anthropic_event(name: str, payload: dict[str, object]) -> bytes:
    return encode_event(json.dumps(payload, ensure_ascii=False), name)


DELTA = anthropic_event(
    "content_block_delta",
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "日本"}},
)
ANTHROPIC_BLOCKS = {
    "text delta": (DELTA, True),
    "ping": (anthropic_event("ping", {"type": "ping"}), True),
    "block stop": (anthropic_event("content_block_stop", {"type": "content_block_stop"}), True),
    "message start": (anthropic_event("message_start", {"type": "message_start"}), False),
    "message delta": (anthropic_event("message_delta", {"type": "message_delta"}), False),
    "message stop": (anthropic_event("message_stop", {"type": "message_stop"}), False),
    "error": (anthropic_event("error", {"type": "error"}), False),
    "no event name": (encode_event('{"type":"content_block_delta"}'), False),
    "two data lines": (DELTA.replace(b"\ndata: ", b"\ndata: {}\ndata: ", 1), False),
    "CRLF lines": (DELTA.replace(b"\n", b"\r\n"), False),
    "data not JSON": (b"event: content_block_delta\ndata: oops\n\n", False),
}


@pytest.mark.parametrize(
    ("block", "passes"), ANTHROPIC_BLOCKS.values(), ids=ANTHROPIC_BLOCKS.keys()
)
def test_which_anthropic_blocks_pass_through_raw(block: bytes, passes: bool) -> None:
    converter = stream_converter(Dialect.ANTHROPIC, Dialect.ANTHROPIC, "model-x", False)
    assert converter.passes_raw(block) is passes


@pytest.mark.parametrize(("client", "upstream"), [
    (Dialect.OPENAI, Dialect.ANTHROPIC), (Dialect.ANTHROPIC, Dialect.OPENAI),
])  # fmt: skip
def test_translating_converters_never_pass_raw(client: Dialect, upstream: Dialect) -> None:
    converter = stream_converter(client, upstream, "model-x", True)
    assert not converter.passes_raw(PLAIN)
    assert not converter.passes_raw(DELTA)


def test_raw_blocks_that_pass_are_exactly_what_feed_would_send() -> None:
    for block, passes in [*OPENAI_BLOCKS.values(), *ANTHROPIC_BLOCKS.values()]:
        if not passes:
            continue
        client = Dialect.ANTHROPIC if block.startswith(b"event:") else Dialect.OPENAI
        converter = stream_converter(client, client, "model-x", True)
        (event,) = SseDecoder().feed(block)
        assert b"".join(converter.feed(event)) == block, block
        assert converter.usage is None
        assert re.match(rb"(event: [a-z_]+\n)?data: \{", block)
