"""The provider connection's wire shortcuts: one write per request, a cheaper header parse.

Both replace stdlib/urllib3 steps on the hot path (issue 3), so each is held to the exact result
of the step it replaces: the bytes urllib3 would send, the headers http.client would parse.
"""

from __future__ import annotations

import http.client
import io
import socket
import threading
from collections.abc import Iterator

import pytest
from urllib3.connection import HTTPConnection

from plano.providers.transport import make_pool, send
from tests.services.ports import HOST

BODY = b'{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}'
HEADERS = {"content-type": "application/json", "authorization": "Bearer sk-test"}


class RecordingSocket:
    """Stands in for the connection's socket and keeps every write."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def sendall(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def settimeout(self, _timeout: float | None) -> None:
        return None


def connection_class(origin: str = "http://127.0.0.1:80") -> type[HTTPConnection]:
    """The connection class plano's pool to `origin` uses."""
    cls = make_pool(origin).ConnectionCls
    assert issubclass(cls, HTTPConnection)
    return cls


def written_by(cls: type[HTTPConnection], body: bytes | None) -> list[bytes]:
    connection = cls(HOST, 80)
    recorder = RecordingSocket()
    connection.sock = recorder
    connection.request("POST", "/v1/chat/completions", body=body, headers=HEADERS)
    return recorder.writes


def test_a_request_with_a_body_leaves_in_one_write_with_the_bytes_urllib3_sends() -> None:
    writes = written_by(connection_class(), BODY)
    assert len(writes) == 1
    stock = written_by(HTTPConnection, BODY)
    assert len(stock) == 2  # what the shortcut saves: the head and the body apart
    assert writes[0] == b"".join(stock)
    assert writes[0].endswith(b"\r\n\r\n" + BODY)


def test_a_request_without_a_body_still_sends_its_head() -> None:
    writes = written_by(connection_class(), None)
    assert len(writes) == 1
    assert writes[0].startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert writes[0].endswith(b"\r\n\r\n")


def test_the_tls_connection_gets_the_same_shortcuts() -> None:
    tls = connection_class("https://127.0.0.1:443")
    plain = connection_class()
    assert tls.response_class is plain.response_class
    assert tls.send is plain.send


HEADER_BLOCKS = {
    "plain": b"Content-Type: application/json\r\nContent-Length: 2\r\nX-Request-Id: a1\r\n\r\n",
    "repeated": b"Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 2\r\n\r\n",
    "spacing": b"X-A:1\r\nX-B:   padded   \r\nX-C:\r\nContent-Length: 2\r\n\r\n",
    "colon in value": b"Location: http://x:8080/a\r\nContent-Length: 2\r\n\r\n",
    "latin-1": b"X-Name: caf\xe9\r\nContent-Length: 2\r\n\r\n",
    "bare newlines": b"X-A: 1\nContent-Length: 2\n\n",
    "folded": b"X-Long: first\r\n  second\r\nContent-Length: 2\r\n\r\n",
    "no colon": b"garbage line\r\nContent-Length: 2\r\n\r\n",
    "space before colon": b"X-Bad : 1\r\nContent-Length: 2\r\n\r\n",
    "leading whitespace": b" X-Lead: 1\r\nContent-Length: 2\r\n\r\n",
    "control character in name": b"X-\x01A: 1\r\nContent-Length: 2\r\n\r\n",
    "non-ascii name": b"X-\xe9: 1\r\nContent-Length: 2\r\n\r\n",
    "empty name": b": 1\r\nContent-Length: 2\r\n\r\n",
}


@pytest.mark.parametrize("block", HEADER_BLOCKS.values(), ids=HEADER_BLOCKS.keys())
def test_reply_headers_parse_exactly_as_http_client_parses_them(block: bytes) -> None:
    expected = http.client.parse_headers(io.BytesIO(block))
    raw = b"HTTP/1.1 200 OK\r\n" + block + b"ok"
    reply = http.client.HTTPResponse(FakeSocket(raw))  # type: ignore[arg-type]
    parsed = connection_class().response_class(FakeSocket(raw))  # type: ignore[arg-type]
    parsed.begin()
    reply.begin()
    assert parsed.msg.items() == expected.items() == reply.msg.items()
    assert [repr(d) for d in parsed.msg.defects] == [repr(d) for d in expected.defects]
    assert (parsed.length, parsed.chunked, parsed.will_close) == (
        reply.length,
        reply.chunked,
        reply.will_close,
    )
    assert parsed.read() == reply.read() == b"ok"


class FakeSocket:
    """What http.client.HTTPResponse reads a reply from (it only calls makefile)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def makefile(self, _mode: str) -> io.BufferedReader:
        return io.BufferedReader(io.BytesIO(self._data))


# ------------------------------------------------------------- end to end over a real socket


def serve_raw(reply: bytes) -> Iterator[tuple[str, list[bytes]]]:
    """A one-connection server: reads one request, answers `reply`, records what it read."""
    received: list[bytes] = []
    listener = socket.create_server((HOST, 0))

    def run() -> None:
        connection, _ = listener.accept()
        with connection:
            data = b""
            while b"\r\n\r\n" not in data:
                data += connection.recv(65536)
            head, _, rest = data.partition(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            while len(rest) < length:
                rest += connection.recv(65536)
            received.append(head + b"\r\n\r\n" + rest)
            connection.sendall(reply)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{listener.getsockname()[1]}", received
    finally:
        listener.close()
        thread.join(timeout=5)


@pytest.fixture
def informational_then_chunked() -> Iterator[tuple[str, list[bytes]]]:
    yield from serve_raw(
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nX-Long: a\r\n b\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
        b"6\r\ndata: \r\n3\r\nhi\n\r\n0\r\n\r\n"
    )


def test_a_real_reply_after_a_1xx_with_folded_headers_streams_through(
    informational_then_chunked: tuple[str, list[bytes]],
) -> None:
    origin, received = informational_then_chunked
    reply = send(make_pool(origin), "/v1/chat/completions", BODY, HEADERS, read_timeout_s=5)
    assert reply.status == 200
    assert reply.content_type == "text/event-stream"
    assert b"".join(reply.iter_bytes()) == b"data: hi\n"
    reply.close()
    (request,) = received
    assert request.endswith(b"\r\n\r\n" + BODY)
    assert b"\r\nauthorization: Bearer sk-test\r\n" in request
