"""A tiny local HTTP server (127.0.0.1, port 0) that serves canned replies, for fetch tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Reply:
    """What one path answers: status, body, and optionally a slow trickle of the body."""

    body: bytes = b"{}"
    status: int = 200
    content_type: str = "application/json"
    delay_before_body_s: float = 0.0
    trickle_every_s: float = 0.0  # > 0: send the body one byte at a time


@dataclass
class LocalServer:
    """The running server: set `replies[path]`, read `requests` (paths with query strings)."""

    url: str = ""
    replies: dict[str, Reply] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    """Serve `replies` by path (query strings ignored) until the test ends."""
    state = LocalServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            state.requests.append(self.path)
            reply = state.replies.get(self.path.split("?", 1)[0], Reply(b"not found", 404))
            self.send_response(reply.status)
            self.send_header("content-type", reply.content_type)
            self.send_header("content-length", str(len(reply.body)))
            self.end_headers()
            self.wfile.flush()
            try:
                time.sleep(reply.delay_before_body_s)
                if reply.trickle_every_s > 0:
                    for byte in reply.body:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(reply.trickle_every_s)
                else:
                    self.wfile.write(reply.body)
            except OSError:
                pass  # the client gave up: that is what the slow replies test

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
