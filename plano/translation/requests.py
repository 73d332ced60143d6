"""Request bodies for the provider's dialect, from a body in the client's dialect.

Same dialect: the body goes through with only `model` replaced (and, for OpenAI streams, usage
asked for, so every call is counted). Across dialects: messages, system, tools, tool calls, tool
results, images, sampling settings and stop sequences are carried over; settings with no
counterpart are dropped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from plano.routing.call import Dialect
from plano.translation.responses import parse_arguments

# Anthropic requires max_tokens; an OpenAI client often sends none.
DEFAULT_MAX_TOKENS = 4096

_SHARED_SETTINGS = ("temperature", "top_p", "stream")


def to_openai_request(body: Mapping[str, object], client: Dialect, model: str) -> dict[str, object]:
    """`body` as an OpenAI Chat Completions request for `model`."""
    if client is Dialect.OPENAI:
        out = dict(body)
    else:
        out = _anthropic_to_openai(body)
    out["model"] = model
    if out.get("stream") is True:
        options = out.get("stream_options")
        merged = dict(options) if isinstance(options, dict) else {}
        merged["include_usage"] = True
        out["stream_options"] = merged
    return out


def to_anthropic_request(
    body: Mapping[str, object], client: Dialect, model: str
) -> dict[str, object]:
    """`body` as an Anthropic Messages request for `model`."""
    out = dict(body) if client is Dialect.ANTHROPIC else _openai_to_anthropic(body)
    out["model"] = model
    return out


# ------------------------------------------------------------ Anthropic -> OpenAI


def _anthropic_to_openai(body: Mapping[str, object]) -> dict[str, object]:
    messages: list[dict[str, object]] = []
    system = _system_text(body.get("system"))
    if system:
        messages.append({"role": "system", "content": system})
    for message in _dicts(body.get("messages")):
        messages.extend(_anthropic_message_to_openai(message))
    out: dict[str, object] = {"messages": messages}
    for key in _SHARED_SETTINGS:
        if key in body:
            out[key] = body[key]
    if "max_tokens" in body:
        out["max_tokens"] = body["max_tokens"]
    stops = body.get("stop_sequences")
    if isinstance(stops, list) and stops:
        out["stop"] = stops
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        out["user"] = metadata["user_id"]
    tools = [_anthropic_tool_to_openai(tool) for tool in _dicts(body.get("tools"))]
    if tools:
        out["tools"] = tools
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and tools:  # OpenAI rejects a tool_choice without tools
        _anthropic_tool_choice_to_openai(choice, out)
    return out


def _anthropic_message_to_openai(message: Mapping[str, object]) -> list[dict[str, object]]:
    role = str(message.get("role", "user"))
    content = message.get("content")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    blocks = _dicts(content)
    if role == "assistant":
        texts = [str(b.get("text", "")) for b in blocks if b.get("type") == "text"]
        calls = [
            {
                "id": str(b.get("id", "")),
                "type": "function",
                "function": {
                    "name": str(b.get("name", "")),
                    "arguments": json.dumps(b.get("input", {}), ensure_ascii=False),
                },
            }
            for b in blocks
            if b.get("type") == "tool_use"
        ]
        assistant: dict[str, object] = {"role": "assistant", "content": "".join(texts) or None}
        if calls:
            assistant["tool_calls"] = calls
        return [assistant]
    # A user turn: tool results become `tool` messages, which must follow the assistant's
    # tool calls directly, so they come before the rest of the turn.
    out: list[dict[str, object]] = []
    parts: list[dict[str, object]] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "tool_result":
            out.append(
                {
                    "role": "tool",
                    "tool_call_id": str(block.get("tool_use_id", "")),
                    "content": _tool_result_text(block),
                }
            )
        elif kind == "text":
            parts.append({"type": "text", "text": str(block.get("text", ""))})
        elif kind == "image":
            image = _anthropic_image_to_openai(block)
            if image is not None:
                parts.append(image)
    if parts:
        if all(part["type"] == "text" for part in parts):
            out.append({"role": role, "content": "\n".join(str(p["text"]) for p in parts)})
        else:
            out.append({"role": role, "content": parts})
    return out


def _tool_result_text(block: Mapping[str, object]) -> str:
    content = block.get("content")
    text = content if isinstance(content, str) else _joined_text(content, "\n")
    if block.get("is_error") is True and not text.startswith("Error"):
        return f"Error: {text}"
    return text


def _anthropic_image_to_openai(block: Mapping[str, object]) -> dict[str, object] | None:
    source = block.get("source")
    if not isinstance(source, dict):
        return None
    if source.get("type") == "base64":
        url = f"data:{source.get('media_type', 'image/png')};base64,{source.get('data', '')}"
    elif source.get("type") == "url" and isinstance(source.get("url"), str):
        url = str(source["url"])
    else:
        return None
    return {"type": "image_url", "image_url": {"url": url}}


def _anthropic_tool_to_openai(tool: Mapping[str, object]) -> dict[str, object]:
    function: dict[str, object] = {"name": tool.get("name", "")}
    if tool.get("description"):
        function["description"] = tool["description"]
    function["parameters"] = tool.get("input_schema") or {"type": "object", "properties": {}}
    return {"type": "function", "function": function}


def _anthropic_tool_choice_to_openai(choice: Mapping[str, object], out: dict[str, object]) -> None:
    kind = choice.get("type")
    if kind == "auto":
        out["tool_choice"] = "auto"
    elif kind == "any":
        out["tool_choice"] = "required"
    elif kind == "none":
        out["tool_choice"] = "none"
    elif kind == "tool":
        out["tool_choice"] = {"type": "function", "function": {"name": choice.get("name", "")}}
    if choice.get("disable_parallel_tool_use") is True and "tools" in out:
        out["parallel_tool_calls"] = False


# ------------------------------------------------------------ OpenAI -> Anthropic


def _openai_to_anthropic(body: Mapping[str, object]) -> dict[str, object]:
    system: list[str] = []
    messages: list[dict[str, object]] = []
    for message in _dicts(body.get("messages")):
        role = message.get("role")
        if role in ("system", "developer"):
            text = _content_text(message.get("content"))
            if text:
                system.append(text)
            continue
        converted = _openai_message_to_anthropic(message)
        if converted is None:
            continue
        if messages and messages[-1]["role"] == converted["role"]:
            # Anthropic wants turns to alternate: consecutive turns of one role are merged.
            previous = messages[-1]
            previous["content"] = _blocks(previous["content"]) + _blocks(converted["content"])
        else:
            messages.append(converted)
    out: dict[str, object] = {"messages": messages}
    if system:
        out["system"] = "\n\n".join(system)
    out["max_tokens"] = next(
        (
            value
            for value in (body.get("max_completion_tokens"), body.get("max_tokens"))
            if isinstance(value, int) and not isinstance(value, bool)
        ),
        DEFAULT_MAX_TOKENS,
    )
    for key in _SHARED_SETTINGS:
        if key in body:
            out[key] = body[key]
    temperature = out.get("temperature")
    if isinstance(temperature, (int, float)) and temperature > 1:
        out["temperature"] = 1.0  # OpenAI's scale goes to 2, Anthropic's to 1
    stop = body.get("stop")
    if isinstance(stop, str):
        out["stop_sequences"] = [stop]
    elif isinstance(stop, list) and stop:
        out["stop_sequences"] = stop
    if isinstance(body.get("user"), str):
        out["metadata"] = {"user_id": body["user"]}
    tools = [
        _openai_tool_to_anthropic(tool)
        for tool in _dicts(body.get("tools"))
        if tool.get("type", "function") == "function"  # custom (grammar) tools have no twin
    ]
    if tools:
        out["tools"] = tools
        choice = _openai_tool_choice_to_anthropic(body.get("tool_choice"))
        no_tools = choice is not None and choice["type"] == "none"
        if body.get("parallel_tool_calls") is False and not no_tools:
            choice = choice or {"type": "auto"}
            choice["disable_parallel_tool_use"] = True
        if choice is not None:
            out["tool_choice"] = choice
    return out


def _openai_message_to_anthropic(message: Mapping[str, object]) -> dict[str, object] | None:
    """One OpenAI message as an Anthropic turn; None for an empty assistant turn.

    Anthropic rejects empty text blocks, so an assistant message with neither text nor tool
    calls is left out (the turns around it are then merged).
    """
    role = message.get("role")
    if role in ("tool", "function"):
        result = {
            "type": "tool_result",
            "tool_use_id": str(message.get("tool_call_id") or message.get("name") or ""),
            "content": _content_text(message.get("content")),
        }
        return {"role": "user", "content": [result]}
    content = message.get("content")
    if role == "assistant":
        blocks: list[dict[str, object]] = []
        text = _content_text(content)
        if text:
            blocks.append({"type": "text", "text": text})
        for call in _dicts(message.get("tool_calls")):
            function = call.get("function")
            function = function if isinstance(function, dict) else {}
            blocks.append(
                {
                    "type": "tool_use",
                    "id": str(call.get("id", "")),
                    "name": str(function.get("name", "")),
                    "input": parse_arguments(function.get("arguments")),
                }
            )
        return {"role": "assistant", "content": blocks} if blocks else None
    if isinstance(content, str):
        return {"role": "user", "content": content}
    parts: list[dict[str, object]] = []
    for part in _dicts(content):
        if part.get("type") == "text":
            parts.append({"type": "text", "text": str(part.get("text", ""))})
        elif part.get("type") == "image_url":
            image = _openai_image_to_anthropic(part)
            if image is not None:
                parts.append(image)
    return {"role": "user", "content": parts or ""}


def _openai_image_to_anthropic(part: Mapping[str, object]) -> dict[str, object] | None:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str):
        return None
    if url.startswith("data:") and ";base64," in url:
        media_type, _, data = url[5:].partition(";base64,")
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }
    return {"type": "image", "source": {"type": "url", "url": url}}


def _openai_tool_to_anthropic(tool: Mapping[str, object]) -> dict[str, object]:
    function = tool.get("function")
    function = function if isinstance(function, dict) else {}
    out: dict[str, object] = {"name": function.get("name", "")}
    if function.get("description"):
        out["description"] = function["description"]
    out["input_schema"] = function.get("parameters") or {"type": "object", "properties": {}}
    return out


def _openai_tool_choice_to_anthropic(choice: object) -> dict[str, object] | None:
    if choice == "auto":
        return {"type": "auto"}
    if choice == "required":
        return {"type": "any"}
    if choice == "none":
        return {"type": "none"}
    if isinstance(choice, dict):
        function = choice.get("function")
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            return {"type": "tool", "name": function["name"]}
    return None


# ------------------------------------------------------------------- helpers


def _system_text(system: object) -> str:
    if isinstance(system, str):
        return system
    return _joined_text(system, "\n")


def _content_text(content: object) -> str:
    """An OpenAI content (string, parts or null) as plain text."""
    if isinstance(content, str):
        return content
    return _joined_text(content, "\n")


def _joined_text(blocks: object, separator: str) -> str:
    return separator.join(
        str(block.get("text", "")) for block in _dicts(blocks) if block.get("type") == "text"
    )


def _blocks(content: object) -> list[object]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return list(content) if isinstance(content, list) else []


def _dicts(value: object) -> list[dict[str, object]]:
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]
