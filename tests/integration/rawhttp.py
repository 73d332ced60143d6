"""A tiny keep-alive HTTP/1.1 client over a raw socket, for requests `requests` refuses to send.

`RawHttp(port).send(raw_bytes)` writes the bytes as they are (any method, target, header bytes,
CRLF tricks, lying Content-Length) and parses the answer with http.client. The socket is kept
while the server keeps it; a reused socket the server had closed is replaced once.
"""

from __future__ import annotations

import http.client
import socket
from dataclasses import dataclass

from tests.services.ports import HOST


@dataclass(frozen=True, slots=True)
class RawReply:
    """One answer: status (0: the server closed without one), lower-case headers, body."""

    status: int
    headers: dict[str, str]
    body: bytes


def build_request(
    method: bytes,
    target: bytes,
    headers: list[tuple[bytes, bytes]] = (),  # type: ignore[assignment]
    body: bytes = b"",
    *,
    host: bytes = b"127.0.0.1",
    content_length: bool = True,
) -> bytes:
    """The bytes of one HTTP/1.1 request."""
    lines = [method + b" " + target + b" HTTP/1.1", b"Host: " + host]
    lines += [name + b": " + value for name, value in headers]
    if content_length:
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class RawHttp:
    """One keep-alive connection to 127.0.0.1:port."""

    def __init__(self, port: int, timeout_s: float = 30.0) -> None:
        self.port = port
        self.timeout_s = timeout_s
        self._sock: socket.socket | None = None
        self.sent = 0

    def close(self) -> None:
        """Close the connection (a new one is opened on the next send)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def send(self, raw: bytes, *, head: bool = False) -> RawReply:
        """Send `raw` and read one answer."""
        self.sent += 1
        reused = self._sock is not None
        try:
            return self._exchange(raw, head)
        except (http.client.RemoteDisconnected, ConnectionError):
            self.close()
            if not reused:
                return RawReply(0, {}, b"")
        try:
            return self._exchange(raw, head)
        except (http.client.RemoteDisconnected, ConnectionError):
            self.close()
            return RawReply(0, {}, b"")

    def _exchange(self, raw: bytes, head: bool) -> RawReply:
        if self._sock is None:
            self._sock = socket.create_connection((HOST, self.port), timeout=self.timeout_s)
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock = self._sock
        sock.sendall(raw)
        response = http.client.HTTPResponse(sock, method="HEAD" if head else "POST")
        try:
            response.begin()
            body = response.read()
        except http.client.IncompleteRead as exc:
            body = exc.partial
            response.will_close = True
        headers = {name.lower(): value for name, value in response.getheaders()}
        if response.will_close:
            self.close()
        return RawReply(response.status, headers, body)

    def __enter__(self) -> RawHttp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
