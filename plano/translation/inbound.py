"""A client's request body, checked and read into the dialect-neutral ChatCall.

Only what routing needs is typed (model, conversation text, stream, tool names); the body itself
is forwarded as the client sent it. Shapes a provider would reject anyway are checked here so the
client gets a clear 400 in its dialect instead of an upstream error.
"""

from __future__ import annotations

from collections.abc import Mapping

from plano.errors import InvalidRequest
from plano.routing.call import ChatCall, Dialect, Turn

OPENAI_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
ANTHROPIC_ROLES = frozenset({"user", "assistant"})


def call_from_openai(body: Mapping[str, object]) -> ChatCall:
    """The call in an OpenAI Chat Completions body."""
    turns = []
    for index, message in enumerate(_messages(body)):
        where = f"messages[{index}]"
        role = _role(message, OPENAI_ROLES, where)
        content = message.get("content")
        if content is not None and not isinstance(content, (str, list)):
            raise InvalidRequest(
                f"{where}.content must be a string, a list of parts or null",
                param=f"{where}.content",
            )
        turns.append(Turn(role, _text(content, f"{where}.content")))
    tool_names = []
    for tool in _tools(body):
        function = tool.get("function")
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            tool_names.append(function["name"])
    return ChatCall(
        Dialect.OPENAI, _model(body), tuple(turns), _stream(body), tool_names=tuple(tool_names)
    )


def call_from_anthropic(body: Mapping[str, object]) -> ChatCall:
    """The call in an Anthropic Messages body (the system prompt becomes a system turn)."""
    turns = []
    system = body.get("system")
    if system is not None:
        if not isinstance(system, (str, list)):
            raise InvalidRequest("system must be a string or a list of text blocks", param="system")
        text = _text(system, "system")
        if text:
            turns.append(Turn("system", text))
    for index, message in enumerate(_messages(body)):
        where = f"messages[{index}]"
        role = _role(message, ANTHROPIC_ROLES, where)
        content = message.get("content")
        if not isinstance(content, (str, list)):
            raise InvalidRequest(
                f"{where}.content must be a string or a list of content blocks",
                param=f"{where}.content",
            )
        turns.append(Turn(role, _text(content, f"{where}.content")))
    tool_names = [tool["name"] for tool in _tools(body) if isinstance(tool.get("name"), str)]
    return ChatCall(
        Dialect.ANTHROPIC,
        _model(body),
        tuple(turns),
        _stream(body),
        tool_names=tuple(str(name) for name in tool_names),
    )


def _model(body: Mapping[str, object]) -> str | None:
    model = body.get("model")
    if model is None:
        return None
    if not isinstance(model, str):
        raise InvalidRequest("model must be a string", param="model")
    return model.strip() or None


def _stream(body: Mapping[str, object]) -> bool:
    stream = body.get("stream", False)
    if stream is None:
        return False
    if not isinstance(stream, bool):
        raise InvalidRequest("stream must be a boolean", param="stream")
    return stream


def _messages(body: Mapping[str, object]) -> list[Mapping[str, object]]:
    messages = body.get("messages")
    if messages is None:
        raise InvalidRequest("messages is required", param="messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages must be a non-empty list", param="messages")
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InvalidRequest(f"messages[{index}] must be an object", param=f"messages[{index}]")
    return messages


def _role(message: Mapping[str, object], allowed: frozenset[str], where: str) -> str:
    role = message.get("role")
    if not isinstance(role, str) or role not in allowed:
        names = ", ".join(sorted(allowed))
        raise InvalidRequest(f"{where}.role must be one of {names}", param=f"{where}.role")
    return role


def _tools(body: Mapping[str, object]) -> list[Mapping[str, object]]:
    tools = body.get("tools")
    if tools is None:
        return []
    if not isinstance(tools, list) or not all(isinstance(tool, dict) for tool in tools):
        raise InvalidRequest("tools must be a list of objects", param="tools")
    return tools


def _text(content: object, where: str) -> str:
    """The text of a content: the string, or its text parts joined by newlines."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts = []
    for index, part in enumerate(content if isinstance(content, list) else []):
        if not isinstance(part, dict):
            raise InvalidRequest(f"{where}[{index}] must be an object", param=f"{where}[{index}]")
        if part.get("type") == "text":
            text = part.get("text")
            if not isinstance(text, str):
                raise InvalidRequest(
                    f"{where}[{index}].text must be a string", param=f"{where}[{index}].text"
                )
            texts.append(text)
    return "\n".join(texts)
