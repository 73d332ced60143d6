"""The shipped worker class (plano.worker.PlanoWorker) under gunicorn: keep-alive, access log.

Framing (request smuggling) is tested with both worker classes in test_security.py; the proxy's
end-to-end modules run under both as well. This module covers what only the shipped class
adds to pywsgi: the idle limit on connections, `--keep-alive 0`, the access log switch, and
writes that start with one plain send (checked with replies far larger than a socket buffer).
"""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services.gunicorn import REPO_ROOT, SHIPPED_WORKER, GunicornServer

EXAMPLE = REPO_ROOT / "conf" / "examples" / "alias_based.yaml"
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def _start(tmp: Path, *extra_args: str) -> GunicornServer:
    return GunicornServer(
        EXAMPLE, tmp, workers=1, worker_class=SHIPPED_WORKER, extra_args=extra_args
    ).start()


@pytest.fixture(scope="module")
def keepalive_1s(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GunicornServer]:
    server = _start(tmp_path_factory.mktemp("keepalive"), "--keep-alive", "1")
    yield server
    server.stop()


def _read_one_reply(sock: socket.socket) -> bytes:
    """One /healthz answer (headers and its Content-Length body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before a full answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head


def _seconds_until_closed(sock: socket.socket) -> float:
    start = time.monotonic()
    assert sock.recv(1) == b"", "the server sent bytes nobody asked for"
    return time.monotonic() - start


def test_idle_keep_alive_connection_closes_after_keepalive(keepalive_1s: GunicornServer) -> None:
    with socket.create_connection(("127.0.0.1", keepalive_1s.port), timeout=10) as sock:
        for _ in range(3):  # the connection is reused while requests keep coming
            sock.sendall(HEALTHZ)
            assert _read_one_reply(sock).startswith(b"HTTP/1.1 200")
        waited = _seconds_until_closed(sock)
    assert 0.8 <= waited <= 5.0, waited


def test_silent_new_connection_is_closed_too(keepalive_1s: GunicornServer) -> None:
    with socket.create_connection(("127.0.0.1", keepalive_1s.port), timeout=10) as sock:
        waited = _seconds_until_closed(sock)
    assert 0.8 <= waited <= 5.0, waited


def test_keepalive_zero_is_one_request_per_connection(tmp_path: Path) -> None:
    server = _start(tmp_path, "--keep-alive", "0")
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            time.sleep(1.5)  # no idle limit on the one request
            sock.sendall(HEALTHZ)
            assert _read_one_reply(sock).startswith(b"HTTP/1.1 200")
            assert _seconds_until_closed(sock) < 1.0
    finally:
        server.stop()


def test_access_log_is_written_only_when_configured(
    tmp_path: Path, keepalive_1s: GunicornServer
) -> None:
    access_log = tmp_path / "access.log"
    server = _start(tmp_path, "--access-logfile", str(access_log))
    try:
        for target in (server, keepalive_1s):
            with socket.create_connection(("127.0.0.1", target.port), timeout=10) as sock:
                sock.sendall(HEALTHZ)
                assert _read_one_reply(sock).startswith(b"HTTP/1.1 200")
    finally:
        server.stop()
    # Ours carries no User-Agent (the start-up probe's lines carry urllib's).
    lines = [line for line in access_log.read_text().splitlines() if line.endswith('"-" "-"')]
    assert len(lines) == 1 and '"GET /healthz HTTP/1.1" 200' in lines[0], lines
    assert "GET /healthz" not in keepalive_1s.log_text()


BIG_APP = """
import hashlib

PIECE = bytes(range(256)) * 4096  # 1 MiB

def app(environ, start_response):
    count = int(environ["QUERY_STRING"] or "1")
    if environ["PATH_INFO"] == "/whole":  # one write far larger than the socket buffer
        body = PIECE * count
        start_response("200 OK", [("Content-Length", str(len(body))),
                                  ("X-Sha256", hashlib.sha256(body).hexdigest())])
        return [body]
    start_response("200 OK", [("X-Sha256", hashlib.sha256(PIECE * count).hexdigest())])
    return iter([PIECE] * count)  # chunked: one write per piece
"""


@pytest.mark.parametrize("path", ["/whole", "/pieces"])
def test_writes_larger_than_the_socket_buffer_arrive_whole(tmp_path: Path, path: str) -> None:
    """A slow reader makes the first send partial; the rest must follow, in order."""
    (tmp_path / "bigapp.py").write_text(BIG_APP)
    (tmp_path / "plano.yaml").write_text("version: v0.4.0\n")
    server = GunicornServer(
        tmp_path / "plano.yaml", tmp_path / "run", app="bigapp:app", cwd=tmp_path,
        worker_class=SHIPPED_WORKER,
    ).start()  # fmt: skip
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
            sock.sendall(
                b"GET %s?24 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path.encode()
            )
            time.sleep(0.5)  # let the server fill every buffer on the way
            received = bytearray()
            while chunk := sock.recv(65536):
                received += chunk
    finally:
        server.stop()
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    headers = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:])
    if path == "/pieces":
        body = _unchunk(body)
    assert len(body) == 24 * 1024 * 1024
    assert hashlib.sha256(body).hexdigest().encode() == headers[b"X-Sha256"]


def _unchunk(data: bytes) -> bytes:
    out, rest = bytearray(), data
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return bytes(out)
        out += rest[:size]
        assert rest[size : size + 2] == b"\r\n"
        rest = rest[size + 2 :]
