"""Whole (non-streaming) replies: one dialect's response body rewritten into the other's, usage.

Token conventions: OpenAI's `prompt_tokens` counts cached tokens too; Anthropic's `input_tokens`
does not (cache reads and writes are separate). `Usage` follows OpenAI: prompt includes cached.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass

from plano.routing.call import Dialect

OPENAI_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
ANTHROPIC_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one call; `prompt_tokens` includes `cached_tokens`."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0


def usage_of(body: Mapping[str, object], dialect: Dialect) -> Usage | None:
    """The usage block of a response body in `dialect`, None when it has none."""
    usage = body.get("usage")
    if not isinstance(usage, dict):
        return None
    if dialect is Dialect.OPENAI:
        return openai_usage(usage)
    return anthropic_usage(usage)


def openai_usage(usage: Mapping[str, object]) -> Usage:
    """Usage from an OpenAI `usage` object."""
    details = usage.get("prompt_tokens_details")
    cached = _int(details.get("cached_tokens")) if isinstance(details, dict) else 0
    return Usage(_int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens")), cached)


def anthropic_usage(usage: Mapping[str, object], output_tokens: int | None = None) -> Usage:
    """Usage from an Anthropic `usage` object (cache reads and writes added to the prompt)."""
    cached = _int(usage.get("cache_read_input_tokens"))
    written = _int(usage.get("cache_creation_input_tokens"))
    prompt = _int(usage.get("input_tokens")) + cached + written
    completion = _int(usage.get("output_tokens")) if output_tokens is None else output_tokens
    return Usage(prompt, completion, cached)


def openai_usage_block(usage: Usage) -> dict[str, object]:
    """`usage` as OpenAI reports it."""
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
    }


def anthropic_usage_block(usage: Usage) -> dict[str, object]:
    """`usage` as Anthropic reports it (input excludes cache reads)."""
    return {
        "input_tokens": max(usage.prompt_tokens - usage.cached_tokens, 0),
        "output_tokens": usage.completion_tokens,
        "cache_read_input_tokens": usage.cached_tokens,
    }


def to_openai_response(
    body: Mapping[str, object], upstream: Dialect, model: str
) -> dict[str, object]:
    """An Anthropic Messages response as an OpenAI chat completion."""
    if upstream is Dialect.OPENAI:
        return dict(body)
    texts: list[str] = []
    tool_calls: list[dict[str, object]] = []
    for block in _list(body.get("content")):
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif block.get("type") == "tool_use":
            tool_calls.append(
                {
                    "id": str(block.get("id", "")),
                    "type": "function",
                    "function": {
                        "name": str(block.get("name", "")),
                        "arguments": json.dumps(block.get("input", {}), ensure_ascii=False),
                    },
                }
            )
    message: dict[str, object] = {
        "role": "assistant",
        "content": "".join(texts) if texts else None,
    }
    if tool_calls:
        message["tool_calls"] = tool_calls
    stop = body.get("stop_reason")
    usage = usage_of(body, Dialect.ANTHROPIC) or Usage()
    return {
        "id": _openai_id(body.get("id")),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": _model(body, model),
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": OPENAI_FINISH.get(str(stop), "stop"),
                "logprobs": None,
            }
        ],
        "usage": openai_usage_block(usage),
    }


def to_anthropic_response(
    body: Mapping[str, object], upstream: Dialect, model: str
) -> dict[str, object]:
    """An OpenAI chat completion as an Anthropic Messages response."""
    if upstream is Dialect.ANTHROPIC:
        return dict(body)
    choices = _list(body.get("choices"))
    choice = choices[0] if choices and isinstance(choices[0], dict) else {}
    message = choice.get("message")
    message = message if isinstance(message, dict) else {}
    content: list[dict[str, object]] = []
    text = message.get("content")
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    elif isinstance(text, list):
        joined = "".join(str(part.get("text", "")) for part in text if isinstance(part, dict))
        if joined:
            content.append({"type": "text", "text": joined})
    refusal = message.get("refusal")
    if not content and isinstance(refusal, str) and refusal:
        content.append({"type": "text", "text": refusal})
    for call in _list(message.get("tool_calls")):
        if not isinstance(call, dict):
            continue
        function = call.get("function")
        function = function if isinstance(function, dict) else {}
        content.append(
            {
                "type": "tool_use",
                "id": str(call.get("id", "")),
                "name": str(function.get("name", "")),
                "input": parse_arguments(function.get("arguments")),
            }
        )
    finish = choice.get("finish_reason")
    stop_reason = ANTHROPIC_STOP.get(str(finish), "end_turn") if finish else "end_turn"
    if stop_reason == "end_turn" and any(block["type"] == "tool_use" for block in content):
        # Some OpenAI-compatible providers (Gemini, Ollama) finish tool calls with "stop";
        # Anthropic clients run tools when stop_reason says so.
        stop_reason = "tool_use"
    usage = usage_of(body, Dialect.OPENAI) or Usage()
    return {
        "id": _anthropic_id(body.get("id")),
        "type": "message",
        "role": "assistant",
        "model": _model(body, model),
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": anthropic_usage_block(usage),
    }


def parse_arguments(arguments: object) -> object:
    """A tool call's JSON arguments as a value; an object holding the raw text when not JSON."""
    if isinstance(arguments, dict):
        return arguments
    if not isinstance(arguments, str) or not arguments.strip():
        return {}
    try:
        value = json.loads(arguments)
    except ValueError:
        return {"arguments": arguments}
    return value if isinstance(value, dict) else {"arguments": value}


def _openai_id(value: object) -> str:
    text = str(value) if value else ""
    return text if text.startswith("chatcmpl") else f"chatcmpl-{text or _fresh_id()}"


def _anthropic_id(value: object) -> str:
    text = str(value) if value else ""
    return text if text.startswith("msg_") else f"msg_{text or _fresh_id()}"


def _fresh_id() -> str:
    return f"{time.time_ns():x}"


def _model(body: Mapping[str, object], fallback: str) -> str:
    model = body.get("model")
    return model if isinstance(model, str) and model else fallback


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
