"""Streams: a provider's SSE events re-emitted in the client's dialect, usage collected.

A converter is fed one decoded event at a time and returns the bytes to send; `finish()` ends
the stream and raises UpstreamError when the provider stopped before saying it was done, so a
cut stream is never passed off as complete (SPEC §4). An error event from the provider raises
too. Anthropic streams out carry exactly one `message_start` and one `message_stop`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Protocol

from plano.errors import UpstreamError, UpstreamRateLimited
from plano.routing.call import Dialect
from plano.translation.responses import (
    ANTHROPIC_STOP,
    OPENAI_FINISH,
    Usage,
    anthropic_usage,
    anthropic_usage_block,
    openai_usage,
    openai_usage_block,
)
from plano.translation.sse import SseDecoder, SseEvent, encode_event

DONE = b"data: [DONE]\n\n"
_FINISHED = re.compile(r'"finish_reason"\s*:\s*"')
# An error object, or a usage object (`"usage": null` rides on every chunk of some providers).
_ERROR_OR_USAGE = re.compile(r'"error"\s*:|"usage"\s*:\s*\{')
OVERLOADED_STATUS = 529
# The same two tests on the raw bytes of an event, for the pass-through fast path.
_FINISHED_RAW = re.compile(rb'"finish_reason"\s*:\s*"')
_ERROR_OR_USAGE_RAW = re.compile(rb'"error"\s*:|"usage"\s*:\s*\{')
# Anthropic events a pass-through only copies: no usage, no end of stream, no error in them.
_COPIED_ANTHROPIC_EVENTS = frozenset(
    (
        b"event: content_block_start",
        b"event: content_block_delta",
        b"event: content_block_stop",
        b"event: ping",
    )
)


class StreamConverter(Protocol):
    """Turns provider events into client bytes."""

    usage: Usage | None

    def feed(self, event: SseEvent) -> list[bytes]:
        """The bytes to send for one provider event."""

    def finish(self) -> list[bytes]:
        """The closing bytes; UpstreamError when the provider's stream was cut short."""

    def passes_raw(self, block: bytes) -> bool:
        """Whether `block`, one whole provider event as received, goes out byte for byte.

        True only when feed() would send exactly these bytes and learn nothing from them.
        """


def convert_chunks(
    chunks: Iterable[bytes], decoder: SseDecoder, converter: StreamConverter
) -> Iterator[bytes]:
    """The client's bytes for each provider chunk that completes events, then the end.

    Raises UpstreamError as converter.finish() and feed() do. A chunk that is exactly one event
    the converter passes through unchanged (most chunks of a same-dialect stream) is sent as
    received, without decoding and re-encoding it.
    """
    for chunk in chunks:
        if not decoder.pending and converter.passes_raw(chunk):
            yield chunk
            continue
        out: list[bytes] = []
        for event in decoder.feed(chunk):
            out.extend(converter.feed(event))
        if out:
            yield b"".join(out)
    tail = [piece for event in decoder.flush() for piece in converter.feed(event)]
    tail.extend(converter.finish())
    if tail:
        yield b"".join(tail)


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _one_data_line(raw: bytes) -> bool:
    """Whether raw is `data: {...}` and a blank line, in valid UTF-8 (what encode_event writes)."""
    return (
        raw.startswith(b"data: {")
        and raw.endswith(b"}\n\n")
        and raw.count(b"\n") == 2
        and b"\r" not in raw
        and _is_utf8(raw)
    )


def stream_converter(
    client: Dialect, upstream: Dialect, model: str, include_usage: bool
) -> StreamConverter:
    """The converter from `upstream`'s stream to `client`'s (`model`: the upstream model id).

    `include_usage`: the OpenAI client asked for the usage chunk (`stream_options`); plano always
    asks OpenAI providers for it, and drops it for clients that did not.
    """
    if client is Dialect.OPENAI:
        if upstream is Dialect.OPENAI:
            return OpenAIPassthrough(include_usage)
        return AnthropicToOpenAI(model, include_usage)
    if upstream is Dialect.ANTHROPIC:
        return AnthropicPassthrough()
    return OpenAIToAnthropic(model)


def cut_short() -> UpstreamError:
    """The error for a stream that ended before the provider said it was done."""
    return UpstreamError("the provider closed the stream before it finished")


def upstream_stream_error(payload: object) -> UpstreamError:
    """The error an `error` event from a provider stands for (either dialect's shape)."""
    error = payload.get("error") if isinstance(payload, dict) else None
    message = "the provider failed mid-stream"
    kinds: set[object] = set()
    if isinstance(error, dict):
        if isinstance(error.get("message"), str):
            message = f"the provider failed mid-stream: {error['message']}"
        # OpenAI puts a rate limit in `code` (its `type` is "requests" or "tokens").
        kinds = {error.get("type"), error.get("code")}
    elif isinstance(error, str) and error:
        message = f"the provider failed mid-stream: {error}"
    if kinds & {"rate_limit_error", "rate_limit_exceeded"}:
        return UpstreamRateLimited(message)
    if "overloaded_error" in kinds:
        return UpstreamError(message, status=OVERLOADED_STATUS)
    return UpstreamError(message)


class OpenAIPassthrough:
    """OpenAI to OpenAI: events go through as they are; only the usage chunk may be dropped."""

    __slots__ = ("usage", "_include_usage", "_finished", "_closed")

    def __init__(self, include_usage: bool) -> None:
        self.usage: Usage | None = None
        self._include_usage = include_usage
        self._finished = False
        self._closed = False

    def feed(self, event: SseEvent) -> list[bytes]:
        data = event.data
        if data == "[DONE]":
            self._finished = True
            self._closed = True
            return [DONE]
        if not (data.startswith("{") and data.endswith("}")) and event.json_or_none() is None:
            # A cut or garbled event would break the client's parser: end the stream instead.
            raise UpstreamError("the provider sent a stream event that is not JSON")
        if _ERROR_OR_USAGE.search(data):
            payload = event.json_or_none()
            if isinstance(payload, dict):
                if "error" in payload and not payload.get("choices"):
                    raise upstream_stream_error(payload)
                usage = payload.get("usage")
                if isinstance(usage, dict):
                    # Not a sign of the end: some providers (vLLM's continuous usage stats)
                    # put usage in every chunk.
                    self.usage = openai_usage(usage)
                    if not payload.get("choices") and not self._include_usage:
                        return []
        if not self._finished and _FINISHED.search(data):
            self._finished = True
        return [encode_event(data, event.name)]

    def finish(self) -> list[bytes]:
        if not self._finished:
            raise cut_short()
        if self._closed:
            return []
        self._closed = True
        return [DONE]

    def passes_raw(self, block: bytes) -> bool:
        return (
            _one_data_line(block)
            and not _ERROR_OR_USAGE_RAW.search(block)
            and (self._finished or not _FINISHED_RAW.search(block))
        )


class AnthropicPassthrough:
    """Anthropic to Anthropic: events go through as they are; usage is read on the way."""

    __slots__ = ("usage", "_counts", "_finished")

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self._counts: dict[str, object] = {}
        self._finished = False

    def feed(self, event: SseEvent) -> list[bytes]:
        name = event.name
        data = event.data
        if not (data.startswith("{") and data.endswith("}")) and event.json_or_none() is None:
            # A stream cut inside an event's data leaves a broken event: end the stream instead.
            raise UpstreamError("the provider sent a stream event that is not JSON")
        if name in ("message_start", "message_delta", "error", None):
            payload = event.json_or_none()
            kind = payload.get("type") if isinstance(payload, dict) else None
            if kind == "error" or name == "error":
                raise upstream_stream_error(payload)
            if isinstance(payload, dict):
                self._read_usage(payload)
            if kind == "message_stop":
                self._finished = True
        elif name == "message_stop":
            self._finished = True
        return [encode_event(data, name)]

    def _read_usage(self, payload: dict[str, object]) -> None:
        holder = payload.get("message") if payload.get("type") == "message_start" else payload
        usage = holder.get("usage") if isinstance(holder, dict) else None
        if isinstance(usage, dict):
            self._counts.update({k: v for k, v in usage.items() if v is not None})
            self.usage = anthropic_usage(self._counts)

    def finish(self) -> list[bytes]:
        if not self._finished:
            raise cut_short()
        return []

    def passes_raw(self, block: bytes) -> bool:
        name, _, rest = block.partition(b"\n")
        return name in _COPIED_ANTHROPIC_EVENTS and _one_data_line(rest)


class OpenAIToAnthropic:
    """An OpenAI provider's chunks as an Anthropic Messages stream."""

    def __init__(self, model: str) -> None:
        self.usage: Usage | None = None
        self._model = model
        self._started = False
        self._closed = False
        self._finished = False
        self._stop_reason = "end_turn"
        self._next_block = 0
        self._open_block: int | None = None
        self._open_kind = ""
        self._tool_blocks: dict[object, int] = {}  # the provider's call index (or id) -> block
        self._last_tool: object = None

    def feed(self, event: SseEvent) -> list[bytes]:
        if event.data == "[DONE]":
            self._finished = True
            return []
        payload = event.json_or_none()
        if not isinstance(payload, dict):
            raise UpstreamError("the provider sent a stream event that is not JSON")
        if "error" in payload and not payload.get("choices"):
            raise upstream_stream_error(payload)
        out: list[bytes] = []
        if not self._started:
            out.append(self._message_start(payload))
        usage = payload.get("usage")
        if isinstance(usage, dict):
            self.usage = openai_usage(usage)
        choices = payload.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else None
        if isinstance(choice, dict):
            delta = choice.get("delta")
            if isinstance(delta, dict):
                self._delta(delta, out)
            finish = choice.get("finish_reason")
            if isinstance(finish, str) and finish:
                self._stop_reason = ANTHROPIC_STOP.get(finish, "end_turn")
                if self._stop_reason == "end_turn" and self._tool_blocks:
                    # Some providers (Gemini, Ollama) finish tool calls with "stop"; Anthropic
                    # clients run tools when stop_reason says so.
                    self._stop_reason = "tool_use"
                self._finished = True
        return out

    def _message_start(self, payload: dict[str, object]) -> bytes:
        self._started = True
        upstream_id = payload.get("id")
        model = payload.get("model")
        message: dict[str, object] = {
            "id": f"msg_{upstream_id or time.time_ns()}",
            "type": "message",
            "role": "assistant",
            "model": model if isinstance(model, str) and model else self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return encode_event({"type": "message_start", "message": message}, "message_start")

    def _delta(self, delta: dict[str, object], out: list[bytes]) -> None:
        text = delta.get("content") or delta.get("refusal")
        if isinstance(text, str) and text:
            if self._open_kind != "text":
                self._open(out, "text", {"type": "text", "text": ""})
            out.append(self._block_delta({"type": "text_delta", "text": text}))
        calls = delta.get("tool_calls")
        for call in calls if isinstance(calls, list) else []:
            if isinstance(call, dict):
                self._tool_delta(call, out)

    def _tool_delta(self, call: dict[str, object], out: list[bytes]) -> None:
        index = call.get("index")
        call_id = call.get("id")
        key: object
        if isinstance(index, int):
            key = index
        elif isinstance(call_id, str) and call_id:
            key = call_id  # some providers send no index: the id tells the calls apart
        elif self._last_tool is not None:
            key = self._last_tool  # the rest of the call being streamed
        else:
            key = len(self._tool_blocks)
        self._last_tool = key
        function = call.get("function")
        function = function if isinstance(function, dict) else {}
        if key not in self._tool_blocks:
            block = {
                "type": "tool_use",
                "id": str(call.get("id") or f"toolu_{key}"),
                "name": str(function.get("name") or ""),
                "input": {},
            }
            self._open(out, f"tool{key}", block)
            self._tool_blocks[key] = self._open_block or 0
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            piece = {"type": "input_json_delta", "partial_json": arguments}
            out.append(self._block_delta(piece, self._tool_blocks[key]))

    def _open(self, out: list[bytes], kind: str, block: Mapping[str, object]) -> None:
        self._close_block(out)
        self._open_block = self._next_block
        self._open_kind = kind
        self._next_block += 1
        start = {"type": "content_block_start", "index": self._open_block, "content_block": block}
        out.append(encode_event(start, "content_block_start"))

    def _block_delta(self, delta: Mapping[str, object], index: int | None = None) -> bytes:
        at = self._open_block if index is None else index
        event = {"type": "content_block_delta", "index": at, "delta": delta}
        return encode_event(event, "content_block_delta")

    def _close_block(self, out: list[bytes]) -> None:
        if self._open_block is not None:
            stop = {"type": "content_block_stop", "index": self._open_block}
            out.append(encode_event(stop, "content_block_stop"))
        self._open_block = None
        self._open_kind = ""

    def finish(self) -> list[bytes]:
        if self._closed:
            return []
        if not self._finished:
            raise cut_short()
        self._closed = True
        out: list[bytes] = []
        if not self._started:
            out.append(self._message_start({}))
        self._close_block(out)
        usage = anthropic_usage_block(self.usage or Usage())
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": self._stop_reason, "stop_sequence": None},
            "usage": usage,
        }
        out.append(encode_event(delta, "message_delta"))
        out.append(encode_event({"type": "message_stop"}, "message_stop"))
        return out

    def passes_raw(self, block: bytes) -> bool:
        return False  # every event is rewritten


class AnthropicToOpenAI:
    """An Anthropic provider's events as OpenAI chat-completion chunks."""

    def __init__(self, model: str, include_usage: bool) -> None:
        self.usage: Usage | None = None
        self._model = model
        self._include_usage = include_usage
        self._id = f"chatcmpl-{time.time_ns():x}"
        self._created = int(time.time())
        self._counts: dict[str, object] = {}
        self._finish_reason = "stop"
        self._tool_of_block: dict[int, int] = {}
        self._empty_tools: set[int] = set()  # tool blocks whose arguments are still ""
        self._finished = False

    def feed(self, event: SseEvent) -> list[bytes]:
        payload = event.json_or_none()
        if not isinstance(payload, dict):
            raise UpstreamError("the provider sent a stream event that is not JSON")
        kind = payload.get("type", event.name)
        if kind == "error" or event.name == "error":
            raise upstream_stream_error(payload)
        if kind == "message_start":
            return self._message_start(payload)
        if kind == "content_block_start":
            return self._block_start(payload)
        if kind == "content_block_delta":
            return self._block_delta(payload)
        if kind == "content_block_stop":
            return self._block_stop(payload)
        if kind == "message_delta":
            self._message_delta(payload)
        elif kind == "message_stop":
            return self._message_stop()
        return []

    def _chunk(self, delta: dict[str, object], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return encode_event(
            {
                "id": self._id,
                "object": "chat.completion.chunk",
                "created": self._created,
                "model": self._model,
                "choices": [choice],
            }
        )

    def _message_start(self, payload: dict[str, object]) -> list[bytes]:
        message = payload.get("message")
        if isinstance(message, dict):
            if isinstance(message.get("id"), str):
                self._id = f"chatcmpl-{message['id']}"
            if isinstance(message.get("model"), str) and message["model"]:
                self._model = str(message["model"])
            usage = message.get("usage")
            if isinstance(usage, dict):
                self._counts.update({k: v for k, v in usage.items() if v is not None})
                # Known now, so a stream cut later is still counted.
                self.usage = anthropic_usage(self._counts)
        return [self._chunk({"role": "assistant", "content": ""})]

    def _block_start(self, payload: dict[str, object]) -> list[bytes]:
        block = payload.get("content_block")
        index = payload.get("index")
        if not isinstance(block, dict):
            return []
        if block.get("type") == "tool_use" and isinstance(index, int):
            tool = len(self._tool_of_block)
            self._tool_of_block[index] = tool
            # Anthropic starts with `input: {}` and streams the JSON; an input given whole up
            # front is sent as the arguments.
            given = block.get("input")
            arguments = json.dumps(given, ensure_ascii=False) if given else ""
            if not arguments:
                self._empty_tools.add(index)
            call = {
                "index": tool,
                "id": str(block.get("id", "")),
                "type": "function",
                "function": {"name": str(block.get("name", "")), "arguments": arguments},
            }
            return [self._chunk({"tool_calls": [call]})]
        text = block.get("text")
        if block.get("type") == "text" and isinstance(text, str) and text:
            return [self._chunk({"content": text})]
        return []

    def _block_delta(self, payload: dict[str, object]) -> list[bytes]:
        delta = payload.get("delta")
        if not isinstance(delta, dict):
            return []
        if delta.get("type") == "text_delta" and isinstance(delta.get("text"), str):
            return [self._chunk({"content": delta["text"]})]
        index = payload.get("index")
        if delta.get("type") == "input_json_delta" and index in self._tool_of_block:
            arguments = delta.get("partial_json")
            if not isinstance(arguments, str) or not arguments:
                return []
            self._empty_tools.discard(index)
            piece = {"index": self._tool_of_block[index], "function": {"arguments": arguments}}
            return [self._chunk({"tool_calls": [piece]})]
        return []

    def _block_stop(self, payload: dict[str, object]) -> list[bytes]:
        index = payload.get("index")
        if not isinstance(index, int) or index not in self._empty_tools:
            return []
        # A tool without input streams no JSON at all; OpenAI clients parse the arguments.
        self._empty_tools.discard(index)
        piece = {"index": self._tool_of_block[index], "function": {"arguments": "{}"}}
        return [self._chunk({"tool_calls": [piece]})]

    def _message_delta(self, payload: dict[str, object]) -> None:
        delta = payload.get("delta")
        if isinstance(delta, dict) and isinstance(delta.get("stop_reason"), str):
            self._finish_reason = OPENAI_FINISH.get(str(delta["stop_reason"]), "stop")
        usage = payload.get("usage")
        if isinstance(usage, dict):
            self._counts.update({k: v for k, v in usage.items() if v is not None})
            self.usage = anthropic_usage(self._counts)

    def _message_stop(self) -> list[bytes]:
        self._finished = True
        self.usage = anthropic_usage(self._counts)
        out = [self._chunk({}, self._finish_reason)]
        if self._include_usage:
            out.append(
                encode_event(
                    {
                        "id": self._id,
                        "object": "chat.completion.chunk",
                        "created": self._created,
                        "model": self._model,
                        "choices": [],
                        "usage": openai_usage_block(self.usage),
                    }
                )
            )
        out.append(DONE)
        return out

    def finish(self) -> list[bytes]:
        if not self._finished:
            raise cut_short()
        return []

    def passes_raw(self, block: bytes) -> bool:
        return False  # every event is rewritten
