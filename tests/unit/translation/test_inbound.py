"""Client bodies read into ChatCall; every malformed shape is a 400 naming the bad field."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pytest

from plano.errors import InvalidRequest
from plano.routing.call import ChatCall, Dialect, Turn
from plano.translation.inbound import call_from_anthropic, call_from_openai

Reader = Callable[[Mapping[str, object]], ChatCall]

IMAGE_PART = {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
IMAGE_BLOCK = {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
            ChatCall(Dialect.OPENAI, "openai/gpt-4o", (Turn("user", "hi"),)),
        ),
        (
            {
                "model": "  fast  ",
                "stream": True,
                "messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "developer", "content": [{"type": "text", "text": "dev"}]},
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "line 1"},
                            IMAGE_PART,
                            {"type": "text", "text": "line 2"},
                        ],
                    },
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": "c1",
                                "type": "function",
                                "function": {"name": "get_weather", "arguments": "{}"},
                            }
                        ],
                    },
                    {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
                ],
                "tools": [
                    {"type": "function", "function": {"name": "get_weather", "parameters": {}}},
                    {"type": "function", "function": {"name": "get_time"}},
                    {"type": "custom", "custom": {"name": "not_a_function"}},
                ],
            },
            ChatCall(
                Dialect.OPENAI,
                "fast",
                (
                    Turn("system", "be brief"),
                    Turn("developer", "dev"),
                    Turn("user", "line 1\nline 2"),
                    Turn("assistant", ""),
                    Turn("tool", "sunny"),
                ),
                stream=True,
                tool_names=("get_weather", "get_time"),
            ),
        ),
        (
            {"messages": [{"role": "user", "content": "x"}], "model": "", "stream": None},
            ChatCall(Dialect.OPENAI, None, (Turn("user", "x"),)),
        ),
        (
            {"messages": [{"role": "user", "content": []}], "stream": False},
            ChatCall(Dialect.OPENAI, None, (Turn("user", ""),)),
        ),
    ],
)
def test_openai_valid(body: dict[str, object], expected: ChatCall) -> None:
    assert call_from_openai(body) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"model": "claude", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]},
            ChatCall(Dialect.ANTHROPIC, "claude", (Turn("user", "hi"),)),
        ),
        (
            {
                "model": "anthropic/claude-sonnet-4-5",
                "system": "you are terse",
                "stream": True,
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "a"},
                            IMAGE_BLOCK,
                            {"type": "text", "text": "b"},
                        ],
                    },
                    {
                        "role": "assistant",
                        "content": [
                            {"type": "text", "text": "calling"},
                            {"type": "tool_use", "id": "t1", "name": "lookup", "input": {}},
                        ],
                    },
                    {
                        "role": "user",
                        "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "42"}],
                    },
                ],
                "tools": [{"name": "lookup", "input_schema": {"type": "object"}}, {"x": 1}],
            },
            ChatCall(
                Dialect.ANTHROPIC,
                "anthropic/claude-sonnet-4-5",
                (
                    Turn("system", "you are terse"),
                    Turn("user", "a\nb"),
                    Turn("assistant", "calling"),
                    Turn("user", ""),
                ),
                stream=True,
                tool_names=("lookup",),
            ),
        ),
        (
            {
                "system": [{"type": "text", "text": "s1"}, {"type": "text", "text": "s2"}],
                "messages": [{"role": "user", "content": "q"}],
            },
            ChatCall(Dialect.ANTHROPIC, None, (Turn("system", "s1\ns2"), Turn("user", "q"))),
        ),
        (
            {"system": "", "messages": [{"role": "user", "content": "q"}]},
            ChatCall(Dialect.ANTHROPIC, None, (Turn("user", "q"),)),
        ),
    ],
)
def test_anthropic_valid(body: dict[str, object], expected: ChatCall) -> None:
    assert call_from_anthropic(body) == expected


USER = {"role": "user", "content": "hi"}

# (body, param) pairs that both dialects reject the same way.
COMMON_BAD = [
    ({}, "messages"),
    ({"messages": None}, "messages"),
    ({"messages": "hi"}, "messages"),
    ({"messages": {"role": "user"}}, "messages"),
    ({"messages": []}, "messages"),
    ({"messages": [USER, "hi"]}, "messages[1]"),
    ({"messages": [None]}, "messages[0]"),
    ({"messages": [{"content": "hi"}]}, "messages[0].role"),
    ({"messages": [{"role": 3, "content": "hi"}]}, "messages[0].role"),
    ({"messages": [{"role": "robot", "content": "hi"}]}, "messages[0].role"),
    ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": {"text": "x"}}]}, "messages[0].content"),
    ({"messages": [USER, {"role": "user", "content": ["x"]}]}, "messages[1].content[0]"),
    (
        {"messages": [{"role": "user", "content": [{"type": "text", "text": 1}]}]},
        "messages[0].content[0].text",
    ),
    (
        {"messages": [{"role": "user", "content": [{"type": "text"}]}]},
        "messages[0].content[0].text",
    ),
    ({"messages": [USER], "model": 4}, "model"),
    ({"messages": [USER], "model": ["a"]}, "model"),
    ({"messages": [USER], "stream": "true"}, "stream"),
    ({"messages": [USER], "stream": 1}, "stream"),
    ({"messages": [USER], "tools": {"name": "x"}}, "tools"),
    ({"messages": [USER], "tools": ["x"]}, "tools"),
    ({"messages": [USER], "tools": [{"name": "x"}, None]}, "tools"),
]

OPENAI_BAD = [
    *COMMON_BAD,
    ({"messages": [{"role": "user", "content": True}]}, "messages[0].content"),
]

ANTHROPIC_BAD = [
    *COMMON_BAD,
    ({"messages": [{"role": "system", "content": "s"}]}, "messages[0].role"),
    ({"messages": [{"role": "tool", "content": "s"}]}, "messages[0].role"),
    ({"messages": [{"role": "user"}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": None}]}, "messages[0].content"),
    ({"messages": [USER], "system": 3}, "system"),
    ({"messages": [USER], "system": {"text": "x"}}, "system"),
    ({"messages": [USER], "system": ["x"]}, "system[0]"),
    ({"messages": [USER], "system": [{"type": "text", "text": None}]}, "system[0].text"),
]


@pytest.mark.parametrize(("body", "param"), OPENAI_BAD)
def test_openai_malformed(body: dict[str, object], param: str) -> None:
    check_rejected(call_from_openai, body, param)


@pytest.mark.parametrize(("body", "param"), ANTHROPIC_BAD)
def test_anthropic_malformed(body: dict[str, object], param: str) -> None:
    check_rejected(call_from_anthropic, body, param)


def check_rejected(reader: Reader, body: Mapping[str, object], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        reader(body)
    error = caught.value
    assert error.status == 400
    assert error.param == param
    # The message names the field (its last path element) so the client can find it.
    leaf = param.rsplit(".", 1)[-1].split("[", 1)[0]
    assert leaf in error.message


@pytest.mark.parametrize("role", ["system", "developer", "user", "assistant", "tool", "function"])
def test_openai_roles(role: str) -> None:
    call = call_from_openai({"messages": [{"role": role, "content": "x"}]})
    assert call.turns == (Turn(role, "x"),)


def test_openai_content_null_allowed() -> None:
    call = call_from_openai({"messages": [{"role": "assistant", "content": None}]})
    assert call.turns == (Turn("assistant", ""),)


def test_inputs_are_not_mutated() -> None:
    body: dict[str, object] = {
        "model": " m ",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}],
    }
    snapshot = repr(body)
    call_from_openai(body)
    call_from_anthropic(body)
    assert repr(body) == snapshot
