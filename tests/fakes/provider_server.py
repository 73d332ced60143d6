"""A fake upstream LLM provider on loopback speaking OpenAI Chat Completions and Anthropic Messages.

One threaded HTTP/1.1 server (keep-alive; `Content-Length` on whole replies, chunked transfer
encoding on streams, TCP_NODELAY) answers both upstream shapes under a root prefix (default `/v1`):

- `POST <root>/chat/completions`: OpenAI Chat Completions. Streaming is SSE `data: {chunk}` events
  ending with `data: [DONE]`; a role chunk first, content (or tool-call) deltas, a chunk with
  `finish_reason`, then, when `stream_options.include_usage` is true, a usage chunk with
  `choices: []` (every earlier chunk then carries `"usage": null`, as OpenAI does).
- `POST <root>/messages`: Anthropic Messages. Streaming is the exact Anthropic event sequence
  `message_start`, `content_block_start`, `ping`, `content_block_delta`…, `content_block_stop`,
  `message_delta`, `message_stop`, each as `event: <type>` + `data: {json}`.
- `GET <root>/models`: an OpenAI model list of the scripted model names.

Errors come back in the dialect of the path: OpenAI `{"error": {"message", "type", "param",
"code"}}`, Anthropic `{"type": "error", "error": {"type", "message"}}`.

Behaviour is scripted per model name (the body's `model`) with `Behavior`; unknown models get the
default::

    with FakeProvider(
        behaviors={
            "gpt-4o": Behavior(text="Hi there", chunks=4, usage=Usage(12, 3, cached_tokens=8)),
            "gpt-4o-mini": Behavior(status=429, retry_after="2"),
            "claude-sonnet-4-6": Behavior(tool_call=ToolCall("get_weather", {"city": "Paris"})),
            "flaky": Behavior(fail_first=2, fail_status=503),
            "staller": Behavior(stream_stall_after=1),  # 1 content delta, then silence
        },
        default=Behavior(),
    ) as fake:
        client = openai.OpenAI(base_url=fake.base_url, api_key="x")   # base_url has the root
        ...
        fake.set_behavior("gpt-4o", Behavior(status=500))
        assert fake.requests[0].json["model"] == "gpt-4o"
        assert fake.requests_for("gpt-4o")[0].headers["authorization"] == "Bearer x"

`Behavior` fields, all optional:

- `text` (split into `chunks` stream deltas, at least 1). `finish_reason` (OpenAI) and
  `stop_reason` (Anthropic) follow: `stop`/`end_turn`, or `tool_calls`/`tool_use` for a tool call.
- `tool_call=ToolCall(name, arguments)`: the reply is one tool call instead of text
  (`content: null` in OpenAI, one `tool_use` block in Anthropic); streamed arguments are split
  into `chunks` pieces.
- `usage=Usage(prompt_tokens, completion_tokens, cached_tokens)`: `prompt_tokens` counts the
  whole prompt, cached part included (OpenAI's convention: `prompt_tokens_details.cached_tokens`).
  Anthropic's `input_tokens` excludes cache reads, so there it is `prompt_tokens - cached_tokens`
  with `cache_read_input_tokens = cached_tokens`.
- `status` (non-2xx gets a dialect error body, `error_message` in it; 429 also carries
  `Retry-After: retry_after` unless that is None), `headers` (extra response headers).
- `fail_first=N`, `fail_status`: the first N requests for that model (counted since the behaviour
  was set) get `fail_status` (with Retry-After on 429); later ones get the normal reply.
- `delay_s`: wait before the status line. `chunk_delay_s`: wait before every stream delta.
- `stream_stall_after=K`: after the stream preamble (OpenAI role chunk; Anthropic message_start,
  content_block_start, ping) and K deltas, stop sending but keep the socket open until the fake
  closes (or `stall_s` passes, then close). `stream_drop_after=K`: same point, then close the
  connection without the terminating chunk. For a non-streaming request K=0 means before any byte
  (no status line) and K≥1 means after the headers and half the body.
- `malformed_body`: a 200 whose JSON is cut in half (streams: one `data: {"choices": [` event).
- `content_type`: override the response Content-Type (e.g. `text/html`); `raw_body`: send these
  bytes instead of the generated body (status and Content-Type still apply).
- `reply_model`: the `model` echoed in replies (default: the request's).

Requests are recorded (`RecordedRequest`: method, path, lower-cased headers, raw body, parsed
`json`, `model`, `connection_id`) in a thread-safe list; `requests`, `requests_for(model)`,
`wait_for_requests(n)`, `clear()`; `connection_count` tells whether a client pooled connections;
`is_connection_closed(id)` / `wait_for_connection_close(id)` tell whether a client hung up.
With `validate=True` (default) a request a real provider would reject (not a JSON
object, no `model`, no `messages` list, Anthropic without integer `max_tokens`) gets a 400.

For benchmarks use `FastFakeProvider` (or `FakeProvider(fast=True)`): the reply bytes of every
(dialect, model, stream, include_usage) are built once and replayed, ids are fixed, and requests
are only counted (`request_count`), not kept. Delays still apply; `set_behavior` clears the cache.

Delays and stalls end early when the fake closes, and closing shuts down every open connection,
so a test that gives up on a slow reply still ends quickly.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from tests.fakes.loopback import LoopbackHTTPServer, LoopbackServer

OPENAI = "openai"
ANTHROPIC = "anthropic"

_OPENAI_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    413: ("invalid_request_error", "request_too_large"),
    422: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
}
# https://docs.anthropic.com/en/api/errors
_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool call in a reply: the function name and its JSON arguments."""

    name: str
    arguments: Mapping[str, object] = field(default_factory=dict)
    id: str = "call_fake_1"

    @property
    def arguments_json(self) -> str:
        """The arguments serialised as the JSON string OpenAI sends."""
        return json.dumps(dict(self.arguments), separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts reported in a reply (`prompt_tokens` includes `cached_tokens`)."""

    prompt_tokens: int = 10
    completion_tokens: int = 5
    cached_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Behavior:
    """How the fake answers requests for one model (see the module docstring)."""

    text: str = "Hello from the fake provider."
    chunks: int = 3
    tool_call: ToolCall | None = None
    usage: Usage = field(default_factory=Usage)
    status: int = 200
    error_message: str | None = None
    retry_after: str | None = "1"
    headers: Mapping[str, str] = field(default_factory=dict)
    fail_first: int = 0
    fail_status: int = 503
    delay_s: float = 0.0
    chunk_delay_s: float = 0.0
    stream_stall_after: int | None = None
    stall_s: float | None = None
    stream_drop_after: int | None = None
    malformed_body: bool = False
    content_type: str | None = None
    raw_body: bytes | None = None
    reply_model: str | None = None


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the fake received it."""

    method: str
    path: str
    headers: Mapping[str, str]  # names lower-cased
    body: bytes
    json: object  # the parsed body, None when it is not JSON
    received_at: float  # time.monotonic()
    connection_id: int = 0  # 1, 2, … per TCP connection: equal ids mean a reused connection

    @property
    def model(self) -> str | None:
        """The body's `model`, when there is one."""
        if isinstance(self.json, dict) and isinstance(self.json.get("model"), str):
            return str(self.json["model"])
        return None


@dataclass(slots=True)
class _Reply:
    """A rendered answer: status line, headers, and either one body or stream events."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes | None = None  # a whole body (Content-Length)
    preamble: list[bytes] = field(default_factory=list)  # stream events before the deltas
    deltas: list[bytes] = field(default_factory=list)  # the K-counted stream events
    epilogue: list[bytes] = field(default_factory=list)  # stream events after the deltas

    @property
    def is_stream(self) -> bool:
        return self.body is None


def split_text(text: str, parts: int) -> list[str]:
    """`text` cut into `parts` (at least 1) contiguous pieces; empty pieces only for short text."""
    parts = max(1, parts)
    size, extra = divmod(len(text), parts)
    pieces, start = [], 0
    for index in range(parts):
        end = start + size + (1 if index < extra else 0)
        pieces.append(text[start:end])
        start = end
    return pieces


def error_json(dialect: str, status: int, message: str) -> dict[str, object]:
    """The error body a provider of `dialect` sends with `status`."""
    if dialect == ANTHROPIC:
        kind = _ANTHROPIC_ERROR_TYPES.get(
            status, "api_error" if status >= 500 else "invalid_request_error"
        )
        return {"type": "error", "error": {"type": kind, "message": message}}
    kind, code = _OPENAI_ERROR_TYPES.get(status, ("server_error", None))
    if status < 500 and status not in _OPENAI_ERROR_TYPES:
        kind = "invalid_request_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _sse(data: object, event: str | None = None) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


def _json_bytes(data: object) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


class _Renderer:
    """Builds replies in both dialects; ids are unique unless `fixed_ids`."""

    def __init__(self, fixed_ids: bool) -> None:
        self._fixed_ids = fixed_ids
        self._counter = itertools.count(1)

    def _id(self, prefix: str) -> str:
        return f"{prefix}fake" if self._fixed_ids else f"{prefix}fake{next(self._counter):06d}"

    def error(self, dialect: str, behavior: Behavior, status: int, model: str) -> _Reply:
        message = behavior.error_message or f"fake {status} error for model {model}"
        headers = [("Content-Type", "application/json")]
        if status == 429 and behavior.retry_after is not None:
            headers.append(("Retry-After", behavior.retry_after))
        if dialect == ANTHROPIC:
            headers.append(("request-id", self._id("req_")))
        else:
            headers.append(("x-request-id", self._id("req_")))
        return _Reply(status, headers, body=_json_bytes(error_json(dialect, status, message)))

    def reply(
        self, dialect: str, behavior: Behavior, model: str, stream: bool, include_usage: bool
    ) -> _Reply:
        model = behavior.reply_model or model
        if not 200 <= behavior.status < 300:
            reply = self.error(dialect, behavior, behavior.status, model)
        elif stream:
            reply = (
                self._anthropic_stream(behavior, model)
                if dialect == ANTHROPIC
                else self._openai_stream(behavior, model, include_usage)
            )
        else:
            body = (
                self._anthropic_message(behavior, model)
                if dialect == ANTHROPIC
                else self._openai_completion(behavior, model)
            )
            reply = _Reply(behavior.status, [("Content-Type", "application/json")], body=body)
        return self._decorate(reply, behavior)

    def _decorate(self, reply: _Reply, behavior: Behavior) -> _Reply:
        if behavior.malformed_body:
            if reply.body is not None:
                reply.body = reply.body[: max(1, len(reply.body) // 2)]
            else:
                reply.deltas = [b'data: {"choices": [\n\n', *reply.deltas]
        if behavior.raw_body is not None:
            reply.body = behavior.raw_body
            reply.preamble, reply.deltas, reply.epilogue = [], [], []
        if behavior.content_type is not None:
            reply.headers = [(k, v) for k, v in reply.headers if k.lower() != "content-type"]
            reply.headers.append(("Content-Type", behavior.content_type))
        reply.headers.extend(behavior.headers.items())
        return reply

    # OpenAI Chat Completions: https://platform.openai.com/docs/api-reference/chat/object
    def _openai_usage(self, usage: Usage) -> dict[str, object]:
        return {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.prompt_tokens + usage.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": usage.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        }

    def _openai_completion(self, behavior: Behavior, model: str) -> bytes:
        message: dict[str, object] = {
            "role": "assistant",
            "content": behavior.text,
            "refusal": None,
        }
        finish = "stop"
        if behavior.tool_call is not None:
            call = behavior.tool_call
            message["content"] = None
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments_json},
                }
            ]
            finish = "tool_calls"
        return _json_bytes(
            {
                "id": self._id("chatcmpl-"),
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
                ],
                "usage": self._openai_usage(behavior.usage),
                "system_fingerprint": "fp_fake",
            }
        )

    def _openai_stream(self, behavior: Behavior, model: str, include_usage: bool) -> _Reply:
        base: dict[str, object] = {
            "id": self._id("chatcmpl-"),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_fake",
        }

        def chunk(delta: dict[str, object], finish: str | None = None) -> bytes:
            data = dict(base)
            data["choices"] = [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            ]
            if include_usage:
                data["usage"] = None
            return _sse(data)

        call = behavior.tool_call
        if call is None:
            preamble = [chunk({"role": "assistant", "content": "", "refusal": None})]
            deltas = [
                chunk({"content": piece}) for piece in split_text(behavior.text, behavior.chunks)
            ]
            finish = "stop"
        else:
            start = {
                "index": 0,
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            preamble = [
                chunk(
                    {"role": "assistant", "content": None, "tool_calls": [start], "refusal": None}
                )
            ]
            deltas = [
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
                for piece in split_text(call.arguments_json, behavior.chunks)
            ]
            finish = "tool_calls"
        epilogue = [chunk({}, finish)]
        if include_usage:
            final = dict(base)
            final["choices"] = []
            final["usage"] = self._openai_usage(behavior.usage)
            epilogue.append(_sse(final))
        epilogue.append(_sse("[DONE]"))
        headers = [
            ("Content-Type", "text/event-stream; charset=utf-8"),
            ("Cache-Control", "no-cache"),
        ]
        return _Reply(behavior.status, headers, None, preamble, deltas, epilogue)

    # Anthropic Messages: https://docs.anthropic.com/en/api/messages and .../messages-streaming
    def _anthropic_usage(self, usage: Usage, output_tokens: int) -> dict[str, object]:
        return {
            "input_tokens": usage.prompt_tokens - usage.cached_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": usage.cached_tokens,
            "output_tokens": output_tokens,
        }

    def _anthropic_message(self, behavior: Behavior, model: str) -> bytes:
        call = behavior.tool_call
        content: list[dict[str, object]]
        if call is None:
            content = [{"type": "text", "text": behavior.text}]
            stop = "end_turn"
        else:
            content = [
                {
                    "type": "tool_use",
                    "id": call.id,
                    "name": call.name,
                    "input": dict(call.arguments),
                }
            ]
            stop = "tool_use"
        return _json_bytes(
            {
                "id": self._id("msg_"),
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": content,
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": self._anthropic_usage(behavior.usage, behavior.usage.completion_tokens),
            }
        )

    def _anthropic_stream(self, behavior: Behavior, model: str) -> _Reply:
        call = behavior.tool_call
        message: dict[str, object] = {
            "id": self._id("msg_"),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": self._anthropic_usage(behavior.usage, 1),
        }
        block: dict[str, object]
        if call is None:
            block = {"type": "text", "text": ""}
            deltas = [
                {"type": "text_delta", "text": piece}
                for piece in split_text(behavior.text, behavior.chunks)
            ]
            stop = "end_turn"
        else:
            block = {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
            deltas = [
                {"type": "input_json_delta", "partial_json": piece}
                for piece in split_text(call.arguments_json, behavior.chunks)
            ]
            stop = "tool_use"
        preamble = [
            _sse({"type": "message_start", "message": message}, "message_start"),
            _sse(
                {"type": "content_block_start", "index": 0, "content_block": block},
                "content_block_start",
            ),
            _sse({"type": "ping"}, "ping"),
        ]
        delta_events = [
            _sse({"type": "content_block_delta", "index": 0, "delta": delta}, "content_block_delta")
            for delta in deltas
        ]
        epilogue = [
            _sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
            _sse(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": {"output_tokens": behavior.usage.completion_tokens},
                },
                "message_delta",
            ),
            _sse({"type": "message_stop"}, "message_stop"),
        ]
        headers = [
            ("Content-Type", "text/event-stream; charset=utf-8"),
            ("Cache-Control", "no-cache"),
        ]
        return _Reply(behavior.status, headers, None, preamble, delta_events, epilogue)


class _Server(LoopbackHTTPServer["FakeProvider"]):
    request_queue_size = 128

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients that give up (timeout and fallback tests) are expected: stay quiet.
        pass


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    connection_id = 0
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 120  # an idle keep-alive connection is closed after this

    def log_message(self, format: str, *args: object) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.connection_id = self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, add=False)

    def do_GET(self) -> None:
        self._read_body()
        fake = self.server.fake
        if self.path.split("?")[0] == f"{fake.root}/models":
            names = sorted(fake._behaviors_snapshot())
            data = [{"id": n, "object": "model", "created": 0, "owned_by": "fake"} for n in names]
            self._send_whole(200, [("Content-Type", "application/json")],
                             _json_bytes({"object": "list", "data": data}))  # fmt: skip
            return
        self._send_error(OPENAI, 404, f"no route for GET {self.path}")

    def do_POST(self) -> None:
        body = self._read_body()
        fake = self.server.fake
        path = self.path.split("?")[0]
        dialect = {
            f"{fake.root}/chat/completions": OPENAI,
            f"{fake.root}/messages": ANTHROPIC,
        }.get(path)
        try:
            parsed: object = json.loads(body) if body else None
        except ValueError:
            parsed = None
        fake._record(self, body, parsed)
        if dialect is None:
            self._send_error(OPENAI, 404, f"no route for POST {self.path}")
            return
        problem = _validate(dialect, parsed) if fake.validate else None
        if problem is not None:
            self._send_error(dialect, 400, problem)
            return
        assert isinstance(parsed, dict)
        model = str(parsed.get("model") or "")
        stream = parsed.get("stream") is True
        options = parsed.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        behavior, reply = fake._answer_for(dialect, model, stream, include_usage)
        if behavior.delay_s > 0 and fake._closing.wait(behavior.delay_s):
            self.close_connection = True
            return
        try:
            self._send_reply(reply, behavior)
        except OSError:
            self.close_connection = True  # the client went away

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_error(self, dialect: str, status: int, message: str) -> None:
        body = _json_bytes(error_json(dialect, status, message))
        self._send_whole(status, [("Content-Type", "application/json")], body)

    def _send_whole(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_reply(self, reply: _Reply, behavior: Behavior) -> None:
        fake = self.server.fake
        cut = behavior.stream_stall_after
        drop = behavior.stream_drop_after
        cut_at = cut if cut is not None else drop
        if not reply.is_stream:
            body = reply.body or b""
            if cut_at is None:
                self._send_whole(reply.status, reply.headers, body)
                return
            if cut_at >= 1:
                self.send_response(reply.status)
                for name, value in reply.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
            self._cut(stall=cut is not None, stall_s=behavior.stall_s)
            return
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for event in reply.preamble:
            self._write_chunk(event)
        for sent, event in enumerate(reply.deltas):
            if cut_at is not None and sent >= cut_at:
                break
            if behavior.chunk_delay_s > 0 and fake._closing.wait(behavior.chunk_delay_s):
                self.close_connection = True
                return
            self._write_chunk(event)
        if cut_at is None:
            for event in reply.epilogue:
                self._write_chunk(event)
            self.wfile.write(b"0\r\n\r\n")
            return
        self._cut(stall=cut is not None, stall_s=behavior.stall_s)

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _cut(self, *, stall: bool, stall_s: float | None) -> None:
        """Stop answering: keep the socket silent (stall) or close it (drop)."""
        self.wfile.flush()
        if stall:
            self.server.fake._closing.wait(stall_s)
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _validate(dialect: str, body: object) -> str | None:
    """What a real provider would reject about this body, or None."""
    if not isinstance(body, dict):
        return "the request body must be a JSON object"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: field required"
    if not isinstance(body.get("messages"), list):
        return "messages: field required (a list)"
    if dialect == ANTHROPIC:
        max_tokens = body.get("max_tokens")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
            return "max_tokens: Field required"
    return None


class FakeProvider(LoopbackServer):
    """A threaded fake LLM provider on 127.0.0.1 with an OS-chosen port (see the module doc)."""

    server_class = _Server
    handler_class = _Handler

    def __init__(
        self,
        behaviors: Mapping[str, Behavior] | None = None,
        default: Behavior | None = None,
        *,
        root: str = "/v1",
        validate: bool = True,
        fast: bool = False,
    ) -> None:
        super().__init__()
        self.root = "/" + root.strip("/") if root.strip("/") else ""
        self.validate = validate
        self.fast = fast
        self._lock = threading.Lock()
        self._behaviors: dict[str, Behavior] = dict(behaviors or {})
        self._default = default if default is not None else Behavior()
        self._served: dict[str, int] = {}  # per model, since its behaviour was set
        self._cache: dict[tuple[str, str, bool, bool], _Reply] = {}
        self._renderer = _Renderer(fixed_ids=fast)
        self._requests: list[RecordedRequest] = []
        self._request_count = 0
        self._connections: set[socket.socket] = set()
        self._connection_ids: dict[socket.socket, int] = {}
        self._closed_connection_ids: set[int] = set()
        self._connection_count = 0

    # lifecycle: start(), close(), the context manager, port and origin come from LoopbackServer
    def _after_server_close(self) -> None:
        """On close, also cut the connections still open (keep-alive, stalls)."""
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # addresses
    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port><root>`: what SDKs and plano's `base_url` take."""
        return self.origin + self.root

    # scripting
    def set_behavior(self, model: str, behavior: Behavior) -> None:
        """Script `model`; restarts its `fail_first` count and clears cached replies."""
        with self._lock:
            self._behaviors[model] = behavior
            self._served.pop(model, None)
            self._cache.clear()

    def set_default(self, behavior: Behavior) -> None:
        """Script every model that has no behaviour of its own."""
        with self._lock:
            self._default = behavior
            self._served.clear()
            self._cache.clear()

    def behavior_for(self, model: str) -> Behavior:
        """The behaviour that applies to `model`."""
        with self._lock:
            return self._behaviors.get(model, self._default)

    # recorded traffic
    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the requests received so far, oldest first (empty in fast mode)."""
        with self._lock:
            return list(self._requests)

    @property
    def request_count(self) -> int:
        """How many requests arrived (counted in fast mode too)."""
        with self._lock:
            return self._request_count

    def requests_for(self, model: str) -> list[RecordedRequest]:
        """The recorded requests whose body named `model`."""
        return [r for r in self.requests if r.model == model]

    def clear(self) -> None:
        """Forget the recorded requests and the per-model `fail_first` counts."""
        with self._lock:
            self._requests.clear()
            self._request_count = 0
            self._served.clear()

    def wait_for_requests(self, count: int, timeout_s: float = 5.0) -> list[RecordedRequest]:
        """Wait for at least `count` requests and return them; AssertionError on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.request_count >= count:
                return self.requests
            time.sleep(0.01)
        raise AssertionError(f"expected {count} requests, got {self.request_count}")

    # used by the handler
    @property
    def connection_count(self) -> int:
        """How many TCP connections were accepted so far (keep-alive reuse keeps it low)."""
        with self._lock:
            return self._connection_count

    def is_connection_closed(self, connection_id: int) -> bool:
        """True once the connection `connection_id` (see RecordedRequest) has ended."""
        with self._lock:
            return connection_id in self._closed_connection_ids

    def wait_for_connection_close(self, connection_id: int, timeout_s: float = 5.0) -> None:
        """Wait until connection `connection_id` has ended; AssertionError on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.is_connection_closed(connection_id):
                return
            time.sleep(0.01)
        raise AssertionError(f"connection {connection_id} still open after {timeout_s}s")

    def _track(self, conn: socket.socket, *, add: bool) -> int:
        with self._lock:
            if add:
                self._connections.add(conn)
                self._connection_count += 1
                self._connection_ids[conn] = self._connection_count
                return self._connection_count
            self._connections.discard(conn)
            closed = self._connection_ids.pop(conn, None)
            if closed is not None:
                self._closed_connection_ids.add(closed)
            return 0

    def _behaviors_snapshot(self) -> dict[str, Behavior]:
        with self._lock:
            return dict(self._behaviors)

    def _record(self, handler: _Handler, body: bytes, parsed: object) -> None:
        with self._lock:
            self._request_count += 1
            if self.fast:
                return
            self._requests.append(
                RecordedRequest(
                    method=handler.command,
                    path=handler.path,
                    headers=_lower_headers(handler.headers.items()),
                    body=body,
                    json=parsed,
                    received_at=time.monotonic(),
                    connection_id=handler.connection_id,
                )
            )

    def _answer_for(
        self, dialect: str, model: str, stream: bool, include_usage: bool
    ) -> tuple[Behavior, _Reply]:
        with self._lock:
            behavior = self._behaviors.get(model, self._default)
            served = self._served.get(model, 0)
            self._served[model] = served + 1
            if served < behavior.fail_first:
                return behavior, self._renderer.error(
                    dialect, behavior, behavior.fail_status, behavior.reply_model or model
                )
            key = (dialect, model, stream, include_usage)
            if self.fast and key in self._cache:
                return behavior, self._cache[key]
        reply = self._renderer.reply(dialect, behavior, model, stream, include_usage)
        if self.fast:
            with self._lock:
                self._cache[key] = reply
        return behavior, reply


class FastFakeProvider(FakeProvider):
    """For benchmarks: replies built once per shape and replayed; requests counted, not kept."""

    def __init__(
        self,
        behaviors: Mapping[str, Behavior] | None = None,
        default: Behavior | None = None,
        *,
        root: str = "/v1",
        validate: bool = False,
    ) -> None:
        super().__init__(behaviors, default, root=root, validate=validate, fast=True)


def _lower_headers(items: Iterator[tuple[str, str]] | list[tuple[str, str]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in items:
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers
