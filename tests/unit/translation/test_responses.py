"""Whole replies rewritten into the client's dialect, and usage read in either convention."""

from __future__ import annotations

import json

import pytest
from anthropic.types import Message
from openai.types.chat import ChatCompletion

from plano.routing.call import Dialect
from plano.translation.responses import (
    Usage,
    anthropic_usage,
    anthropic_usage_block,
    openai_usage,
    openai_usage_block,
    parse_arguments,
    to_anthropic_response,
    to_openai_response,
    usage_of,
)

OPENAI = Dialect.OPENAI
ANTHROPIC = Dialect.ANTHROPIC


def anthropic_reply(
    content: list[dict[str, object]], stop: str | None = "end_turn", **usage: int
) -> dict[str, object]:
    return {
        "id": "msg_01XYZ",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5, **usage},
    }


def openai_reply(
    message: dict[str, object], finish: str | None = "stop", usage: dict[str, object] | None = None
) -> dict[str, object]:
    return {
        "id": "chatcmpl-abc",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-4o-2024-08-06",
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": usage or {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


# ------------------------------------------------------------------ usage


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ({"prompt_tokens": 10, "completion_tokens": 5}, Usage(10, 5, 0)),
        (
            {
                "prompt_tokens": 1200,
                "completion_tokens": 30,
                "total_tokens": 1230,
                "prompt_tokens_details": {"cached_tokens": 1024},
                "completion_tokens_details": {"reasoning_tokens": 10},
            },
            Usage(1200, 30, 1024),
        ),
        ({"prompt_tokens": None, "completion_tokens": "7"}, Usage(0, 0, 0)),
        ({"prompt_tokens": True, "prompt_tokens_details": None}, Usage(0, 0, 0)),
    ],
)
def test_openai_usage(usage: dict[str, object], expected: Usage) -> None:
    assert openai_usage(usage) == expected


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ({"input_tokens": 10, "output_tokens": 5}, Usage(10, 5, 0)),
        # input_tokens excludes cache reads and writes; Usage.prompt_tokens includes both.
        (
            {
                "input_tokens": 20,
                "output_tokens": 7,
                "cache_read_input_tokens": 1000,
                "cache_creation_input_tokens": 300,
            },
            Usage(1320, 7, 1000),
        ),
        ({"input_tokens": 3, "cache_read_input_tokens": None}, Usage(3, 0, 0)),
    ],
)
def test_anthropic_usage(usage: dict[str, object], expected: Usage) -> None:
    assert anthropic_usage(usage) == expected


def test_usage_blocks() -> None:
    usage = Usage(prompt_tokens=1200, completion_tokens=30, cached_tokens=1000)
    assert openai_usage_block(usage) == {
        "prompt_tokens": 1200,
        "completion_tokens": 30,
        "total_tokens": 1230,
        "prompt_tokens_details": {"cached_tokens": 1000},
    }
    assert anthropic_usage_block(usage) == {
        "input_tokens": 200,
        "output_tokens": 30,
        "cache_read_input_tokens": 1000,
    }
    assert openai_usage(openai_usage_block(usage)) == usage
    assert anthropic_usage(anthropic_usage_block(usage)) == usage


def test_usage_of() -> None:
    assert usage_of({"usage": {"prompt_tokens": 4}}, OPENAI) == Usage(4, 0, 0)
    assert usage_of({"usage": {"input_tokens": 4}}, ANTHROPIC) == Usage(4, 0, 0)
    assert usage_of({}, OPENAI) is None
    assert usage_of({"usage": None}, ANTHROPIC) is None


# ------------------------------------------------------------------ Anthropic -> OpenAI


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("pause_turn", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("something_new", "stop"),
        (None, "stop"),
    ],
)
def test_anthropic_stop_reason_to_openai(stop: str | None, finish: str) -> None:
    out = to_openai_response(anthropic_reply([{"type": "text", "text": "x"}], stop), ANTHROPIC, "m")
    assert out["choices"][0]["finish_reason"] == finish  # type: ignore[index]


def test_anthropic_reply_to_openai() -> None:
    body = anthropic_reply(
        [
            {"type": "thinking", "thinking": "hmm", "signature": "sig"},
            {"type": "text", "text": "Checking "},
            {"type": "text", "text": "both."},
            {
                "type": "tool_use",
                "id": "toolu_1",
                "name": "get_weather",
                "input": {"city": "Nîmes"},
            },
            {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {}},
        ],
        "tool_use",
        cache_read_input_tokens=100,
        cache_creation_input_tokens=20,
    )
    out = to_openai_response(body, ANTHROPIC, "fallback-model")
    ChatCompletion.model_validate(out)
    assert out["id"] == "chatcmpl-msg_01XYZ"
    assert out["object"] == "chat.completion"
    assert isinstance(out["created"], int)
    assert out["model"] == "claude-sonnet-4-5-20250929"
    assert out["choices"] == [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Checking both.",
                "tool_calls": [
                    {
                        "id": "toolu_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Nîmes"}'},
                    },
                    {
                        "id": "toolu_2",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": "{}"},
                    },
                ],
            },
            "finish_reason": "tool_calls",
            "logprobs": None,
        }
    ]
    assert out["usage"] == {
        "prompt_tokens": 130,
        "completion_tokens": 5,
        "total_tokens": 135,
        "prompt_tokens_details": {"cached_tokens": 100},
    }


def test_anthropic_reply_without_text_or_usage() -> None:
    body = {"content": [], "stop_reason": "end_turn"}
    out = to_openai_response(body, ANTHROPIC, "claude-x")
    ChatCompletion.model_validate(out)
    assert out["model"] == "claude-x"
    assert str(out["id"]).startswith("chatcmpl-")
    assert out["choices"][0]["message"] == {"role": "assistant", "content": None}  # type: ignore[index]
    assert out["usage"]["prompt_tokens"] == 0  # type: ignore[index]


def test_same_dialect_reply_unchanged() -> None:
    openai_body = openai_reply({"role": "assistant", "content": "hi"})
    anthropic_body = anthropic_reply([{"type": "text", "text": "hi"}])
    assert to_openai_response(openai_body, OPENAI, "m") == openai_body
    assert to_anthropic_response(anthropic_body, ANTHROPIC, "m") == anthropic_body


# ------------------------------------------------------------------ OpenAI -> Anthropic


@pytest.mark.parametrize(
    ("finish", "stop"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("function_call", "tool_use"),
        ("content_filter", "refusal"),
        ("weird", "end_turn"),
        (None, "end_turn"),
    ],
)
def test_openai_finish_reason_to_anthropic(finish: str | None, stop: str) -> None:
    out = to_anthropic_response(
        openai_reply({"role": "assistant", "content": "x"}, finish), OPENAI, "m"
    )
    assert out["stop_reason"] == stop


def test_openai_reply_to_anthropic() -> None:
    body = openai_reply(
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                },
                {
                    "id": "call_b",
                    "type": "function",
                    "function": {"name": "search", "arguments": '{"q": "tr'},
                },
                {"id": "call_c", "type": "function", "function": {"name": "now", "arguments": ""}},
                {"id": "call_d", "type": "function", "function": {"name": "n", "arguments": "[1]"}},
            ],
        },
        "tool_calls",
        {
            "prompt_tokens": 2006,
            "completion_tokens": 300,
            "total_tokens": 2306,
            "prompt_tokens_details": {"cached_tokens": 1920},
        },
    )
    out = to_anthropic_response(body, OPENAI, "fallback")
    Message.model_validate(out)
    assert out == {
        "id": "msg_chatcmpl-abc",
        "type": "message",
        "role": "assistant",
        "model": "gpt-4o-2024-08-06",
        "content": [
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": "call_a", "name": "get_weather", "input": {"city": "Oslo"}},
            {
                "type": "tool_use",
                "id": "call_b",
                "name": "search",
                "input": {"arguments": '{"q": "tr'},
            },
            {"type": "tool_use", "id": "call_c", "name": "now", "input": {}},
            {"type": "tool_use", "id": "call_d", "name": "n", "input": {"arguments": [1]}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 86, "output_tokens": 300, "cache_read_input_tokens": 1920},
    }


def test_openai_tool_calls_with_stop_finish_are_tool_use() -> None:
    # Some OpenAI-compatible providers (Gemini, Ollama) say "stop" although they called tools;
    # Anthropic clients loop on stop_reason == "tool_use".
    body = openai_reply(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        },
        "stop",
    )
    assert to_anthropic_response(body, OPENAI, "m")["stop_reason"] == "tool_use"


@pytest.mark.parametrize(
    ("message", "content"),
    [
        ({"role": "assistant", "content": None}, []),
        ({"role": "assistant", "content": ""}, []),
        (
            {"role": "assistant", "content": [{"type": "text", "text": "a"}, {"text": "b"}]},
            [{"type": "text", "text": "ab"}],
        ),
        (
            {"role": "assistant", "content": None, "refusal": "I can't help with that."},
            [{"type": "text", "text": "I can't help with that."}],
        ),
    ],
)
def test_openai_message_content_shapes(
    message: dict[str, object], content: list[dict[str, object]]
) -> None:
    out = to_anthropic_response(openai_reply(message), OPENAI, "m")
    Message.model_validate(out)
    assert out["content"] == content


def test_openai_reply_without_choices() -> None:
    out = to_anthropic_response({"choices": []}, OPENAI, "gpt-x")
    Message.model_validate(out)
    assert out["model"] == "gpt-x"
    assert out["content"] == []
    assert str(out["id"]).startswith("msg_")


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ({"a": 1}, {"a": 1}),
        ("", {}),
        ("   ", {}),
        (None, {}),
        ("not json", {"arguments": "not json"}),
        ('"s"', {"arguments": "s"}),
        ("[1, 2]", {"arguments": [1, 2]}),
        (5, {}),
    ],
)
def test_parse_arguments(arguments: object, expected: object) -> None:
    assert parse_arguments(arguments) == expected


def test_round_trip_keeps_the_reply() -> None:
    body = anthropic_reply(
        [
            {"type": "text", "text": "Sure."},
            {"type": "tool_use", "id": "toolu_9", "name": "f", "input": {"x": [1, {"y": None}]}},
        ],
        "tool_use",
        cache_read_input_tokens=50,
    )
    back = to_anthropic_response(to_openai_response(body, ANTHROPIC, "m"), OPENAI, "m")
    assert back["content"] == body["content"]
    assert back["stop_reason"] == "tool_use"
    assert back["usage"] == {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 50}
    assert json.loads(json.dumps(back)) == back
