"""Error bodies in each dialect, and a provider's error rewritten into the client's dialect.

OpenAI: `{"error": {"message", "type", "param", "code"}}`.
Anthropic: `{"type": "error", "error": {"type", "message"}}` (SPEC §2).
"""

from __future__ import annotations

import json

from plano.routing.call import Dialect
from plano.translation.sse import dumps, encode_event

MAX_UPSTREAM_TEXT = 300

_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}
_OPENAI_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    429: "rate_limit_error",
}


def error_body(
    dialect: Dialect,
    status: int,
    message: str,
    *,
    code: str | None = None,
    type_: str | None = None,
    param: str | None = None,
) -> bytes:
    """The JSON error body for `status` in `dialect`."""
    if dialect is Dialect.OPENAI:
        error = {
            "message": message,
            "type": type_ or openai_type_for(status),
            "param": param,
            "code": code,
        }
        return dumps({"error": error}).encode()
    error = {"type": type_ or anthropic_type_for(status), "message": message}
    return dumps({"type": "error", "error": error}).encode()


def openai_type_for(status: int) -> str:
    """The OpenAI error type that fits an HTTP status."""
    if status >= 500:
        return "server_error"
    return _OPENAI_TYPES.get(status, "invalid_request_error")


def anthropic_type_for(status: int) -> str:
    """The Anthropic error type that fits an HTTP status."""
    if status in _ANTHROPIC_TYPES:
        return _ANTHROPIC_TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def translate_error_body(body: bytes, client: Dialect, status: int) -> bytes:
    """A provider's error body in the client's dialect, status kept by the caller.

    A well-formed body in the client's own dialect goes back unchanged; anything else (the other
    dialect, a proxy's HTML page, garbage) becomes a clean body carrying the provider's message.
    """
    parsed = _json_object(body)
    if parsed is not None and _is_error_shape(parsed, client) and body.lstrip()[:1] == b"{":
        return body
    message, code = _error_fields(parsed, body, status)
    if client is Dialect.OPENAI:
        # The provider's Anthropic type has no OpenAI twin; the status decides.
        return error_body(client, status, message, code=code, type_=openai_type_for(status))
    return error_body(client, status, message, type_=anthropic_type_for(status))


def openai_stream_error(message: str, type_: str, code: str | None) -> bytes:
    """The event that ends a failed OpenAI stream (no `[DONE]` follows)."""
    error = {"message": message, "type": type_, "param": None, "code": code}
    return encode_event({"error": error})


def anthropic_stream_error(type_: str, message: str) -> bytes:
    """The `event: error` that ends a failed Anthropic stream."""
    return encode_event({"type": "error", "error": {"type": type_, "message": message}}, "error")


def _json_object(body: bytes) -> dict[str, object] | None:
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    if isinstance(parsed, list) and len(parsed) == 1:
        # Gemini's OpenAI-compatible endpoint wraps its error object in a list.
        parsed = parsed[0]
        return parsed if isinstance(parsed, dict) and "error" in parsed else None
    return parsed if isinstance(parsed, dict) else None


def _is_error_shape(parsed: dict[str, object], dialect: Dialect) -> bool:
    error = parsed.get("error")
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        return False
    if dialect is Dialect.ANTHROPIC:
        return parsed.get("type") == "error" and isinstance(error.get("type"), str)
    # An Anthropic body also has `error.message`; OpenAI's has no top-level `type` and all four
    # fields (SPEC §2), so anything else is rebuilt.
    return "type" not in parsed and {"message", "type", "param", "code"} <= error.keys()


def _error_fields(
    parsed: dict[str, object] | None, body: bytes, status: int
) -> tuple[str, str | None]:
    """The provider's message and code, whatever shape its body has."""
    if parsed is not None:
        error = parsed.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            code = error.get("code")
            return str(error["message"]), code if isinstance(code, str) else None
        if isinstance(error, str):
            return error, None
        message = parsed.get("message") or parsed.get("detail")
        if isinstance(message, str):
            return message, None
    text = body.decode("utf-8", errors="replace").strip()
    if text and not text.lstrip().startswith("<"):
        excerpt = text[:MAX_UPSTREAM_TEXT]
        return f"the provider failed with HTTP {status}: {excerpt}", None
    return f"the provider failed with HTTP {status}", None
