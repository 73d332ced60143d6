"""Realistic provider streams, event by event, as the providers document and send them.

Anthropic: https://docs.claude.com/en/docs/build-with-claude/streaming (event order
message_start, content_block_start, ping, content_block_delta..., content_block_stop,
message_delta, message_stop). OpenAI: https://platform.openai.com/docs/api-reference/chat-streaming
(role chunk, deltas, finish chunk, usage chunk with `choices: []`, `[DONE]`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from plano.translation.responses import Usage
from plano.translation.sse import encode_event


@dataclass(frozen=True)
class Stream:
    """A provider stream and what it means."""

    events: Sequence[tuple[str | None, object]]  # (event name, payload or "[DONE]")
    complete_at: int  # events needed before the provider has said it is done
    text: str  # all text blocks, concatenated
    tools: list[tuple[str, str, object]]  # (id, name, parsed arguments)
    stop_reason: str  # what an Anthropic client sees
    finish_reason: str  # what an OpenAI client sees
    usage: Usage | None  # None: the provider reported none

    def wire(self) -> bytes:
        """The stream as the provider sends it."""
        return b"".join(
            encode_event(data if isinstance(data, str) else json.dumps(data), name)
            for name, data in self.events
        )


def _anthropic(payload: dict[str, object]) -> tuple[str, object]:
    return str(payload["type"]), payload


def _text_delta(index: int, text: str) -> tuple[str, object]:
    return _anthropic(
        {
            "type": "content_block_delta",
            "index": index,
            "delta": {"type": "text_delta", "text": text},
        }
    )


def _json_delta(index: int, partial: str) -> tuple[str, object]:
    delta = {"type": "input_json_delta", "partial_json": partial}
    return _anthropic({"type": "content_block_delta", "index": index, "delta": delta})


def _message_start(usage: dict[str, object]) -> tuple[str, object]:
    message: dict[str, object] = {
        "id": "msg_014p7gG3wDgGV9EUtLvnow3U",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    return _anthropic({"type": "message_start", "message": message})


def _block_start(index: int, block: dict[str, object]) -> tuple[str, object]:
    return _anthropic({"type": "content_block_start", "index": index, "content_block": block})


def _block_stop(index: int) -> tuple[str, object]:
    return _anthropic({"type": "content_block_stop", "index": index})


PING = ("ping", {"type": "ping"})
MESSAGE_STOP = ("message_stop", {"type": "message_stop"})

_TOOL_EVENTS = [
    _message_start(
        {
            "input_tokens": 472,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 100,
            "output_tokens": 2,
            "service_tier": "standard",
        }
    ),
    _block_start(0, {"type": "text", "text": ""}),
    PING,
    _text_delta(0, "Okay"),
    _text_delta(0, ", let me check"),
    _text_delta(0, " both — ☀️."),
    _block_stop(0),
    _block_start(1, {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {}}),
    _json_delta(1, ""),
    _json_delta(1, '{"location":'),
    _json_delta(1, ' "San Francisco, CA", "unit": "cel'),
    _json_delta(1, 'sius"}'),
    _block_stop(1),
    _block_start(2, {"type": "tool_use", "id": "toolu_01B", "name": "get_time", "input": {}}),
    _json_delta(2, ""),
    _block_stop(2),
    _block_start(3, {"type": "tool_use", "id": "toolu_01C", "name": "noop", "input": {}}),
    _block_stop(3),
    _anthropic(
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 89},
        }
    ),
    MESSAGE_STOP,
]

ANTHROPIC_TOOLS = Stream(
    _TOOL_EVENTS,
    complete_at=len(_TOOL_EVENTS),
    text="Okay, let me check both — ☀️.",
    tools=[
        ("toolu_01A", "get_weather", {"location": "San Francisco, CA", "unit": "celsius"}),
        ("toolu_01B", "get_time", {}),
        ("toolu_01C", "noop", {}),
    ],
    stop_reason="tool_use",
    finish_reason="tool_calls",
    usage=Usage(prompt_tokens=572, completion_tokens=89, cached_tokens=100),
)

_THINKING_EVENTS = [
    _message_start({"input_tokens": 12, "output_tokens": 1}),
    _block_start(0, {"type": "thinking", "thinking": "", "signature": ""}),
    _anthropic(
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "Let me think"},
        }
    ),
    _anthropic(
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3h"},
        }
    ),
    _block_stop(0),
    _block_start(1, {"type": "text", "text": ""}),
    _text_delta(1, "The answer"),
    PING,
    _text_delta(1, " is 42."),
    _block_stop(1),
    _anthropic(
        {
            "type": "message_delta",
            "delta": {"stop_reason": "max_tokens", "stop_sequence": None},
            "usage": {
                "input_tokens": 12,
                "cache_creation_input_tokens": 30,
                "cache_read_input_tokens": 0,
                "output_tokens": 15,
            },
        }
    ),
    MESSAGE_STOP,
]

ANTHROPIC_THINKING = Stream(
    _THINKING_EVENTS,
    complete_at=len(_THINKING_EVENTS),
    text="The answer is 42.",
    tools=[],
    stop_reason="max_tokens",
    finish_reason="length",
    usage=Usage(prompt_tokens=42, completion_tokens=15, cached_tokens=0),
)


def _chunk(
    delta: dict[str, object] | None, finish: str | None = None, usage: object = None
) -> tuple[None, object]:
    choices = (
        []
        if delta is None
        else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
    )
    return None, {
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "object": "chat.completion.chunk",
        "created": 1741570283,
        "model": "gpt-4o-2024-08-06",
        "service_tier": "default",
        "system_fingerprint": "fp_eb9dce56a8",
        "choices": choices,
        "usage": usage,
    }


DONE = (None, "[DONE]")

_OPENAI_TEXT_EVENTS = [
    _chunk({"role": "assistant", "content": "", "refusal": None}),
    _chunk({"content": "Hel"}),
    _chunk({"content": "lo"}),
    _chunk({"content": " wörld\n"}),
    _chunk({}, "stop"),
    _chunk(
        None,
        usage={
            "prompt_tokens": 2006,
            "completion_tokens": 300,
            "total_tokens": 2306,
            "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        },
    ),
    DONE,
]

OPENAI_TEXT = Stream(
    _OPENAI_TEXT_EVENTS,
    complete_at=5,
    text="Hello wörld\n",
    tools=[],
    stop_reason="end_turn",
    finish_reason="stop",
    usage=Usage(prompt_tokens=2006, completion_tokens=300, cached_tokens=1920),
)


def _call(
    index: int, arguments: str, call_id: str | None = None, name: str | None = None
) -> dict[str, object]:
    call: dict[str, object] = {"index": index, "function": {"arguments": arguments}}
    if call_id is not None:
        call["id"] = call_id
        call["type"] = "function"
        call["function"] = {"name": name, "arguments": arguments}
    return call


_OPENAI_TOOL_EVENTS = [
    _chunk({"role": "assistant", "content": None, "refusal": None}),
    _chunk({"content": "Checking."}),
    _chunk({"tool_calls": [_call(0, "", "call_A", "get_weather")]}),
    _chunk({"tool_calls": [_call(0, '{"ci')]}),
    _chunk({"tool_calls": [_call(0, 'ty": "Pa')]}),
    _chunk({"tool_calls": [_call(0, 'ris"}')]}),
    _chunk({"tool_calls": [_call(1, "", "call_B", "get_weather")]}),
    _chunk({"tool_calls": [_call(1, '{"city": "Ro')]}),
    _chunk({"tool_calls": [_call(1, 'me"}')]}),
    _chunk({"tool_calls": [_call(2, "{}", "call_C", "get_time")]}),
    _chunk({}, "tool_calls"),
    _chunk(
        None,
        usage={"prompt_tokens": 80, "completion_tokens": 40, "total_tokens": 120},
    ),
    DONE,
]

OPENAI_TOOLS = Stream(
    _OPENAI_TOOL_EVENTS,
    complete_at=11,
    text="Checking.",
    tools=[
        ("call_A", "get_weather", {"city": "Paris"}),
        ("call_B", "get_weather", {"city": "Rome"}),
        ("call_C", "get_time", {}),
    ],
    stop_reason="tool_use",
    finish_reason="tool_calls",
    usage=Usage(prompt_tokens=80, completion_tokens=40, cached_tokens=0),
)

# Gemini's OpenAI-compatible endpoint: a first chunk with no choices (Azure's content filter
# results look the same), whole tool calls in one chunk, "stop" although it called tools, no
# usage and no [DONE].
_OPENAI_ONE_CHUNK_EVENTS = [
    _chunk(None),
    _chunk(
        {
            "role": "assistant",
            "tool_calls": [
                _call(0, '{"q":"a"}', "call_1", "search"),
                _call(1, '{"q":"b"}', "call_2", "search"),
            ],
        },
        "stop",
    ),
]

OPENAI_ONE_CHUNK = Stream(
    _OPENAI_ONE_CHUNK_EVENTS,
    complete_at=2,
    text="",
    tools=[("call_1", "search", {"q": "a"}), ("call_2", "search", {"q": "b"})],
    stop_reason="tool_use",
    finish_reason="stop",
    usage=None,
)

ANTHROPIC_STREAMS = {"anthropic_tools": ANTHROPIC_TOOLS, "anthropic_thinking": ANTHROPIC_THINKING}
OPENAI_STREAMS = {
    "openai_text": OPENAI_TEXT,
    "openai_tools": OPENAI_TOOLS,
    "openai_one_chunk": OPENAI_ONE_CHUNK,
}
