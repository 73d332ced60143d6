"""Request bodies rewritten for the provider's dialect: tables of client body -> provider body."""

from __future__ import annotations

import copy
import json

import pytest

from plano.routing.call import Dialect
from plano.translation.requests import (
    DEFAULT_MAX_TOKENS,
    to_anthropic_request,
    to_openai_request,
)

OPENAI = Dialect.OPENAI
ANTHROPIC = Dialect.ANTHROPIC
PNG = "iVBORw0KGgo="
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}


def user(content: object) -> dict[str, object]:
    return {"role": "user", "content": content}


def text(value: str) -> dict[str, object]:
    return {"type": "text", "text": value}


# ------------------------------------------------------------------ same dialect


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"model": "fast", "messages": [user("hi")], "temperature": 1.7, "n": 2},
            {"model": "gpt-4o", "messages": [user("hi")], "temperature": 1.7, "n": 2},
        ),
        (
            {"model": "fast", "messages": [user("hi")], "stream": True},
            {
                "model": "gpt-4o",
                "messages": [user("hi")],
                "stream": True,
                "stream_options": {"include_usage": True},
            },
        ),
        (
            {
                "model": "fast",
                "messages": [user("hi")],
                "stream": True,
                "stream_options": {"include_usage": False, "include_obfuscation": False},
            },
            {
                "model": "gpt-4o",
                "messages": [user("hi")],
                "stream": True,
                "stream_options": {"include_usage": True, "include_obfuscation": False},
            },
        ),
        (
            {"messages": [user("hi")], "stream": False},
            {"model": "gpt-4o", "messages": [user("hi")], "stream": False},
        ),
    ],
)
def test_openai_to_openai(body: dict[str, object], expected: dict[str, object]) -> None:
    before = copy.deepcopy(body)
    assert to_openai_request(body, OPENAI, "gpt-4o") == expected
    assert body == before


def test_anthropic_to_anthropic_only_model_changes() -> None:
    body: dict[str, object] = {
        "model": "smart",
        "max_tokens": 100,
        "system": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}],
        "messages": [user("hi")],
        "stream": True,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    }
    before = copy.deepcopy(body)
    assert to_anthropic_request(body, ANTHROPIC, "claude-sonnet-4-5") == {
        **before,
        "model": "claude-sonnet-4-5",
    }
    assert body == before


# ------------------------------------------------------------------ OpenAI -> Anthropic

O2A = [
    (
        "string system, default max_tokens",
        {"model": "x", "messages": [{"role": "system", "content": "be brief"}, user("hi")]},
        {
            "model": "claude",
            "system": "be brief",
            "messages": [user("hi")],
            "max_tokens": DEFAULT_MAX_TOKENS,
        },
    ),
    (
        "system and developer parts joined",
        {
            "messages": [
                {"role": "system", "content": [text("a"), text("b")]},
                {"role": "developer", "content": "c"},
                user("hi"),
            ],
            "max_tokens": 50,
        },
        {"model": "claude", "system": "a\nb\n\nc", "messages": [user("hi")], "max_tokens": 50},
    ),
    (
        "max_completion_tokens wins",
        {"messages": [user("hi")], "max_tokens": 50, "max_completion_tokens": 70},
        {"model": "claude", "messages": [user("hi")], "max_tokens": 70},
    ),
    (
        "null max_completion_tokens falls back to max_tokens",
        {"messages": [user("hi")], "max_tokens": 50, "max_completion_tokens": None},
        {"model": "claude", "messages": [user("hi")], "max_tokens": 50},
    ),
    (
        "sampling, temperature clamped, stop string, user",
        {
            "messages": [user("hi")],
            "temperature": 1.6,
            "top_p": 0.5,
            "stop": "END",
            "user": "u-1",
            "stream": True,
            "stream_options": {"include_usage": True},
            "n": 1,
            "presence_penalty": 0.2,
            "seed": 3,
        },
        {
            "model": "claude",
            "messages": [user("hi")],
            "max_tokens": DEFAULT_MAX_TOKENS,
            "temperature": 1.0,
            "top_p": 0.5,
            "stream": True,
            "stop_sequences": ["END"],
            "metadata": {"user_id": "u-1"},
        },
    ),
    (
        "temperature in range kept, stop list",
        {"messages": [user("hi")], "temperature": 0.3, "stop": ["a", "b"]},
        {
            "model": "claude",
            "messages": [user("hi")],
            "max_tokens": DEFAULT_MAX_TOKENS,
            "temperature": 0.3,
            "stop_sequences": ["a", "b"],
        },
    ),
    (
        "multi-part text and images",
        {
            "messages": [
                user(
                    [
                        text("look"),
                        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                        {"type": "image_url", "image_url": {"url": "https://e.com/a.jpg"}},
                        text("and this"),
                    ]
                )
            ]
        },
        {
            "model": "claude",
            "max_tokens": DEFAULT_MAX_TOKENS,
            "messages": [
                user(
                    [
                        text("look"),
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                        },
                        {"type": "image", "source": {"type": "url", "url": "https://e.com/a.jpg"}},
                        text("and this"),
                    ]
                )
            ],
        },
    ),
    (
        "consecutive same-role turns merged",
        {
            "messages": [
                user("one"),
                user([text("two")]),
                {"role": "assistant", "content": "a"},
                {"role": "assistant", "content": [text("b")]},
                user("three"),
            ]
        },
        {
            "model": "claude",
            "max_tokens": DEFAULT_MAX_TOKENS,
            "messages": [
                user([text("one"), text("two")]),
                {"role": "assistant", "content": [text("a"), text("b")]},
                user("three"),
            ],
        },
    ),
    (
        "empty assistant turns are dropped (Anthropic rejects empty text blocks)",
        {
            "messages": [
                user("one"),
                {"role": "assistant", "content": ""},
                user("two"),
                {"role": "assistant", "content": None},
            ]
        },
        {
            "model": "claude",
            "max_tokens": DEFAULT_MAX_TOKENS,
            "messages": [user([text("one"), text("two")])],
        },
    ),
]


@pytest.mark.parametrize(("body", "expected"), [c[1:] for c in O2A], ids=[c[0] for c in O2A])
def test_openai_to_anthropic(body: dict[str, object], expected: dict[str, object]) -> None:
    before = copy.deepcopy(body)
    assert to_anthropic_request(body, OPENAI, "claude") == expected
    assert body == before


OPENAI_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": WEATHER_SCHEMA,
        },
    },
    {"type": "function", "function": {"name": "get_time"}},
]
# A function without `parameters` comes back from Anthropic with an empty object schema.
OPENAI_TOOLS_WITH_PARAMETERS = [
    OPENAI_TOOLS[0],
    {
        "type": "function",
        "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
    },
]
ANTHROPIC_TOOLS = [
    {"name": "get_weather", "description": "Weather in a city", "input_schema": WEATHER_SCHEMA},
    {"name": "get_time", "input_schema": {"type": "object", "properties": {}}},
]


@pytest.mark.parametrize(
    ("tool_choice", "parallel", "expected"),
    [
        (None, None, None),
        ("auto", None, {"type": "auto"}),
        ("required", None, {"type": "any"}),
        ("none", None, {"type": "none"}),
        (
            {"type": "function", "function": {"name": "get_time"}},
            None,
            {"type": "tool", "name": "get_time"},
        ),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
        (
            {"type": "function", "function": {"name": "get_time"}},
            False,
            {"type": "tool", "name": "get_time", "disable_parallel_tool_use": True},
        ),
        ("none", False, {"type": "none"}),  # `none` takes no other field
        ("auto", True, {"type": "auto"}),
    ],
)
def test_openai_tools_to_anthropic(
    tool_choice: object, parallel: bool | None, expected: dict[str, object] | None
) -> None:
    body: dict[str, object] = {"messages": [user("hi")], "tools": OPENAI_TOOLS}
    if tool_choice is not None:
        body["tool_choice"] = tool_choice
    if parallel is not None:
        body["parallel_tool_calls"] = parallel
    out = to_anthropic_request(body, OPENAI, "claude")
    assert out["tools"] == ANTHROPIC_TOOLS
    assert out.get("tool_choice") == expected


def test_openai_tool_choice_without_tools_is_dropped() -> None:
    out = to_anthropic_request(
        {"messages": [user("hi")], "tool_choice": "auto", "parallel_tool_calls": False},
        OPENAI,
        "claude",
    )
    assert "tools" not in out and "tool_choice" not in out


def test_openai_non_function_tools_are_dropped() -> None:
    body = {
        "messages": [user("hi")],
        "tools": [{"type": "custom", "custom": {"name": "grammar"}}, OPENAI_TOOLS[1]],
    }
    assert to_anthropic_request(body, OPENAI, "claude")["tools"] == ANTHROPIC_TOOLS[1:]


OPENAI_TOOL_CONVERSATION: list[dict[str, object]] = [
    {"role": "system", "content": "use tools"},
    user("weather in Paris and Rome, and the time?"),
    {
        "role": "assistant",
        "content": "Let me check.",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            },
            {
                "id": "call_2",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
            },
            {"id": "call_3", "type": "function", "function": {"name": "get_time", "arguments": ""}},
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    {"role": "tool", "tool_call_id": "call_2", "content": [text("rain"), text("12C")]},
    {"role": "tool", "tool_call_id": "call_3", "content": "not json {"},
    user("thanks"),
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_4",
                "type": "function",
                "function": {"name": "get_time", "arguments": "not json"},
            }
        ],
    },
]

ANTHROPIC_TOOL_CONVERSATION: list[dict[str, object]] = [
    user("weather in Paris and Rome, and the time?"),
    {
        "role": "assistant",
        "content": [
            text("Let me check."),
            {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {"city": "Rome"}},
            {"type": "tool_use", "id": "call_3", "name": "get_time", "input": {}},
        ],
    },
    user(
        [
            {"type": "tool_result", "tool_use_id": "call_1", "content": "sunny"},
            {"type": "tool_result", "tool_use_id": "call_2", "content": "rain\n12C"},
            {"type": "tool_result", "tool_use_id": "call_3", "content": "not json {"},
            text("thanks"),
        ]
    ),
    {
        "role": "assistant",
        "content": [
            {
                "type": "tool_use",
                "id": "call_4",
                "name": "get_time",
                "input": {"arguments": "not json"},
            }
        ],
    },
]


def test_openai_tool_calls_and_results_to_anthropic() -> None:
    body = {"messages": OPENAI_TOOL_CONVERSATION, "tools": OPENAI_TOOLS}
    out = to_anthropic_request(body, OPENAI, "claude")
    assert out["system"] == "use tools"
    assert out["messages"] == ANTHROPIC_TOOL_CONVERSATION


# ------------------------------------------------------------------ Anthropic -> OpenAI

A2O = [
    (
        "string system, settings",
        {
            "model": "x",
            "system": "be brief",
            "max_tokens": 300,
            "messages": [user("hi")],
            "temperature": 0.2,
            "top_p": 0.9,
            "top_k": 5,
            "stop_sequences": ["END", "STOP"],
            "metadata": {"user_id": "u-9"},
        },
        {
            "model": "gpt-4o",
            "messages": [{"role": "system", "content": "be brief"}, user("hi")],
            "max_tokens": 300,
            "temperature": 0.2,
            "top_p": 0.9,
            "stop": ["END", "STOP"],
            "user": "u-9",
        },
    ),
    (
        "block-list system, stream asks for usage",
        {
            "system": [text("a"), {"type": "text", "text": "b", "cache_control": {"type": "x"}}],
            "max_tokens": 10,
            "stream": True,
            "messages": [user("hi")],
        },
        {
            "model": "gpt-4o",
            "messages": [{"role": "system", "content": "a\nb"}, user("hi")],
            "max_tokens": 10,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    ),
    (
        "multi-part text joined, images",
        {
            "max_tokens": 10,
            "messages": [
                user([text("one"), text("two")]),
                {"role": "assistant", "content": [text("x"), text("y")]},
                user(
                    [
                        text("see"),
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/jpeg", "data": PNG},
                        },
                        {"type": "image", "source": {"type": "url", "url": "https://e.com/b.png"}},
                    ]
                ),
            ],
        },
        {
            "model": "gpt-4o",
            "max_tokens": 10,
            "messages": [
                user("one\ntwo"),
                {"role": "assistant", "content": "xy"},
                user(
                    [
                        text("see"),
                        {
                            "type": "image_url",
                            "image_url": {"url": f"data:image/jpeg;base64,{PNG}"},
                        },
                        {"type": "image_url", "image_url": {"url": "https://e.com/b.png"}},
                    ]
                ),
            ],
        },
    ),
]


@pytest.mark.parametrize(("body", "expected"), [c[1:] for c in A2O], ids=[c[0] for c in A2O])
def test_anthropic_to_openai(body: dict[str, object], expected: dict[str, object]) -> None:
    before = copy.deepcopy(body)
    assert to_openai_request(body, ANTHROPIC, "gpt-4o") == expected
    assert body == before


@pytest.mark.parametrize(
    ("tool_choice", "expected"),
    [
        (None, {}),
        ({"type": "auto"}, {"tool_choice": "auto"}),
        ({"type": "any"}, {"tool_choice": "required"}),
        ({"type": "none"}, {"tool_choice": "none"}),
        (
            {"type": "tool", "name": "get_time"},
            {"tool_choice": {"type": "function", "function": {"name": "get_time"}}},
        ),
        (
            {"type": "auto", "disable_parallel_tool_use": True},
            {"tool_choice": "auto", "parallel_tool_calls": False},
        ),
        (
            {"type": "any", "disable_parallel_tool_use": False},
            {"tool_choice": "required"},
        ),
    ],
)
def test_anthropic_tools_to_openai(
    tool_choice: dict[str, object] | None, expected: dict[str, object]
) -> None:
    body: dict[str, object] = {"max_tokens": 5, "messages": [user("hi")], "tools": ANTHROPIC_TOOLS}
    if tool_choice is not None:
        body["tool_choice"] = tool_choice
    out = to_openai_request(body, ANTHROPIC, "gpt-4o")
    assert out["tools"] == OPENAI_TOOLS_WITH_PARAMETERS
    assert {k: out[k] for k in ("tool_choice", "parallel_tool_calls") if k in out} == expected


def test_anthropic_tool_choice_without_tools_is_dropped() -> None:
    body = {"max_tokens": 5, "messages": [user("hi")], "tool_choice": {"type": "auto"}}
    out = to_openai_request(body, ANTHROPIC, "gpt-4o")
    assert "tool_choice" not in out and "tools" not in out


def test_anthropic_tool_use_and_results_to_openai() -> None:
    body = {
        "max_tokens": 5,
        "messages": [
            user("weather?"),
            {
                "role": "assistant",
                "content": [
                    text("Checking."),
                    {"type": "tool_use", "id": "tu_1", "name": "get_weather", "input": {"c": "é"}},
                    {"type": "tool_use", "id": "tu_2", "name": "get_time", "input": {}},
                ],
            },
            user(
                [
                    {"type": "tool_result", "tool_use_id": "tu_1", "content": [text("sunny")]},
                    {
                        "type": "tool_result",
                        "tool_use_id": "tu_2",
                        "content": "clock broke",
                        "is_error": True,
                    },
                    text("and tomorrow?"),
                ]
            ),
            {"role": "assistant", "content": [{"type": "tool_use", "id": "tu_3", "name": "n"}]},
            user([{"type": "tool_result", "tool_use_id": "tu_3"}]),
        ],
    }
    out = to_openai_request(body, ANTHROPIC, "gpt-4o")
    assert out["messages"] == [
        user("weather?"),
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "tu_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"c": "é"}'},
                },
                {
                    "id": "tu_2",
                    "type": "function",
                    "function": {"name": "get_time", "arguments": "{}"},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "tu_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "tu_2", "content": "Error: clock broke"},
        user("and tomorrow?"),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "tu_3", "type": "function", "function": {"name": "n", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "tu_3", "content": ""},
    ]


# ------------------------------------------------------------------ round trip


def test_round_trip_keeps_the_conversation() -> None:
    """OpenAI -> Anthropic -> OpenAI: same turns, tool calls and results, settings."""
    original: dict[str, object] = {
        "model": "fast",
        "messages": OPENAI_TOOL_CONVERSATION[:-1],
        "tools": OPENAI_TOOLS,
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "max_tokens": 77,
        "temperature": 0.4,
        "stop": ["Z"],
        "user": "u",
        "stream": True,
    }
    anthropic_body = to_anthropic_request(original, OPENAI, "claude")
    back = to_openai_request(anthropic_body, ANTHROPIC, "gpt-4o")
    assert {k: v for k, v in back.items() if k != "messages"} == {
        "model": "gpt-4o",
        "tools": OPENAI_TOOLS_WITH_PARAMETERS,
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "max_tokens": 77,
        "temperature": 0.4,
        "stop": ["Z"],
        "user": "u",
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert meaning(back["messages"]) == meaning(original["messages"])


def meaning(messages: object) -> list[tuple[object, ...]]:
    """What a conversation says, whatever its spelling: roles, texts, calls, parsed arguments."""
    assert isinstance(messages, list)
    out: list[tuple[object, ...]] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            content = "\n".join(part["text"] for part in content)
        calls = tuple(
            (
                call["id"],
                call["function"]["name"],
                json.loads(call["function"]["arguments"] or "{}"),
            )
            for call in message.get("tool_calls", [])
        )
        out.append((message["role"], content or None, message.get("tool_call_id"), calls))
    return out
