"""A fake OpenAI-compatible chat-completions server on loopback, for router and provider tests.

It records every request it receives and answers from a configurable rule::

    with FakeRouter(reply='{"route": ["code_generation"]}') as router:
        ...point a RouterModel (or a provider base_url) at router.url / router.base_url...
        assert router.requests[0].json["temperature"] == 0.01

`reply` may be:
- a `str`: answered as a 200 chat completion whose `choices[0].message.content` is that string;
- a `FakeReply`: full control (status, raw body, delay, closing the connection, headers);
- a sequence of the two: answered in order, the last one repeated;
- a callable `(RecordedRequest) -> str | FakeReply`: computed per request.

`router.reply` may be reassigned while the server runs. Any method and path is accepted (GET too),
so the same server can stand in for an upstream LLM. Delays are cut short when the server closes,
so a test that times out on a slow reply still ends quickly.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import TypeAlias

from tests.fakes.loopback import LoopbackHTTPServer, LoopbackServer

DEFAULT_MODEL = "Plano-Orchestrator"


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the fake received it."""

    method: str
    path: str
    headers: Mapping[str, str]  # names lower-cased
    body: bytes
    received_at: float  # time.monotonic()

    @property
    def json(self) -> object:
        """The body parsed as JSON (raises ValueError when it is not JSON)."""
        return json.loads(self.body)

    @property
    def prompt(self) -> str:
        """The content of the first message: the router prompt."""
        payload = self.json
        assert isinstance(payload, dict)
        return str(payload["messages"][0]["content"])


@dataclass(frozen=True, slots=True)
class FakeReply:
    """How to answer one request.

    content: the assistant message content of a 200 chat completion (None -> `"content": null`).
    status: the HTTP status; a non-2xx status with no `body` gets an OpenAI-style error JSON.
    body: raw bytes sent as is (garbage, a custom JSON, `{"choices": []}`...); overrides content.
    delay_s: sleep before answering (cut short when the server closes).
    close: read the request, then close the connection without answering.
    headers: extra response headers.
    """

    content: str | None = '{"route": []}'
    status: int = 200
    body: bytes | None = None
    delay_s: float = 0.0
    close: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)


ReplyRule: TypeAlias = (
    str | FakeReply | Sequence[str | FakeReply] | Callable[[RecordedRequest], str | FakeReply]
)


def chat_completion(content: str | None, model: str = DEFAULT_MODEL) -> dict[str, object]:
    """A minimal Chat Completions response carrying `content`."""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


class _Server(LoopbackHTTPServer["FakeRouter"]):
    def handle_error(self, request: object, client_address: object) -> None:
        # A client that gave up (timeout tests) is expected; stay quiet instead of printing.
        pass


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle on, the body waits for the client's
    # delayed ACK (40 ms on Linux) on every keep-alive request.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self._answer()

    do_GET = do_POST
    do_PUT = do_POST
    do_DELETE = do_POST

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            received_at=time.monotonic(),
        )
        fake = self.server.fake
        reply = fake._record_and_pick(request)
        if reply.delay_s > 0 and fake._closing.wait(reply.delay_s):
            self.close_connection = True
            return
        if reply.close:
            self.close_connection = True
            return
        payload = _payload_of(reply)
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up waiting


def _payload_of(reply: FakeReply) -> bytes:
    if reply.body is not None:
        return reply.body
    if not 200 <= reply.status < 300:
        error = {"error": {"message": f"fake error {reply.status}", "type": "server_error"}}
        return json.dumps(error).encode()
    return json.dumps(chat_completion(reply.content)).encode()


class FakeRouter(LoopbackServer):
    """A threaded HTTP server on 127.0.0.1 (port chosen by the OS) that records and answers."""

    server_class = _Server
    handler_class = _Handler

    def __init__(self, reply: ReplyRule = '{"route": []}') -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._reply: ReplyRule = reply
        self._answered_with_rule = 0
        self._requests: list[RecordedRequest] = []

    @property
    def reply(self) -> ReplyRule:
        """The answering rule; assigning a new one restarts a sequence at its first reply."""
        with self._lock:
            return self._reply

    @reply.setter
    def reply(self, rule: ReplyRule) -> None:
        with self._lock:
            self._reply = rule
            self._answered_with_rule = 0

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>`: a base_url with no path (plano appends `/v1`)."""
        return self.origin

    @property
    def url(self) -> str:
        """The full chat-completions URL, as RouterModel.url wants it."""
        return f"{self.base_url}/v1/chat/completions"

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        """Forget the requests received so far."""
        with self._lock:
            self._requests.clear()

    def wait_for_requests(self, count: int, timeout_s: float = 5.0) -> list[RecordedRequest]:
        """Wait for at least `count` requests and return them; AssertionError on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            received = self.requests
            if len(received) >= count:
                return received
            time.sleep(0.01)
        raise AssertionError(f"expected {count} requests, got {len(self.requests)}")

    def _record_and_pick(self, request: RecordedRequest) -> FakeReply:
        with self._lock:
            self._requests.append(request)
            rule = self._reply
            index = self._answered_with_rule
            self._answered_with_rule += 1
        return _as_reply(_pick(rule, index, request))


def _pick(rule: ReplyRule, index: int, request: RecordedRequest) -> str | FakeReply:
    if isinstance(rule, (str, FakeReply)):
        return rule
    if callable(rule):
        return rule(request)
    if not rule:
        return FakeReply()
    return rule[min(index, len(rule) - 1)]


def _as_reply(answer: str | FakeReply) -> FakeReply:
    return FakeReply(content=answer) if isinstance(answer, str) else answer
