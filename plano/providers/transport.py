"""The HTTP boundary to providers: one urllib3 pool per provider per worker, errors mapped.

The hot path uses urllib3 directly (requests' own transport) because a `requests.Session`
round trip costs about 0.8 ms more CPU per call (issue 3 measurements).
"""

from __future__ import annotations

import email.parser
import http.client
import logging
import math
import re
import select
import socket
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import urllib3
from gevent import monkey
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)

from plano.errors import (
    UpstreamError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
READ_SIZE = 65536


@dataclass(frozen=True, slots=True)
class PoolSizing:
    """How many keep-alive connections a worker keeps to one provider."""

    maxsize: int = 64


DEFAULT_SIZING = PoolSizing()
# A zero-timeout poll never blocks, so the unpatched select.poll is safe under gevent; gevent's
# own poll sets up and tears down watchers and switches to the hub, about 30 µs per call.
_unpatched_poll = monkey.get_original("select", "poll")


def _is_open(sock: socket.socket | None) -> bool:
    """Whether a pooled connection is still usable: connected, and nothing (EOF) to read."""
    if sock is None:
        return False
    poller = _unpatched_poll()
    poller.register(sock, select.POLLIN)
    return not poller.poll(0)


# What the email package's header parser takes as a field name: printable ASCII but the colon.
_HEADER_NAME = re.compile(r"[!-9;-~]+")


def _parse_header_lines(lines: list[bytes]) -> http.client.HTTPMessage:
    """The headers http.client.parse_headers would return, about 5x cheaper.

    http.client runs every reply's header block through the email package's MIME parser
    (about 60 µs for ten headers). Plain `name: value` lines need none of it; anything else
    (folded lines, a line without a colon, a malformed block) goes through the stdlib parser,
    so the result and its defects are exactly what http.client would give.
    """
    message = http.client.HTTPMessage()
    for line in lines:
        if line in (b"\r\n", b"\n", b""):
            break
        name, colon, value = line.decode("iso-8859-1").partition(":")
        if not colon or not _HEADER_NAME.fullmatch(name):
            hstring = b"".join(lines).decode("iso-8859-1")
            parsed: http.client.HTTPMessage = email.parser.Parser(
                _class=http.client.HTTPMessage
            ).parsestr(hstring)
            return parsed
        message[name] = value.lstrip(" \t").rstrip("\r\n")
    return message


class _HTTPResponse(http.client.HTTPResponse):
    """http.client's response with a cheaper header parse (the status-line logic is its own)."""

    def begin(self) -> None:
        if self.headers is not None:
            return
        while True:  # skip 1xx informational replies, as http.client does
            version, status, reason = self._read_status()
            if status != http.client.CONTINUE:
                break
            http.client._read_headers(self.fp)
        self.code = self.status = status
        self.reason = reason.strip()
        if version in ("HTTP/1.0", "HTTP/0.9"):
            self.version = 10
        elif version.startswith("HTTP/1."):
            self.version = 11
        else:
            raise http.client.UnknownProtocol(version)
        lines = http.client._read_headers(self.fp)
        self.headers = self.msg = _parse_header_lines(lines)
        # From here on, http.client's own framing rules (chunked, length, will_close).
        transfer_encoding = self.headers.get("transfer-encoding")
        self.chunked = bool(transfer_encoding) and transfer_encoding.lower() == "chunked"
        self.chunk_left = None
        self.will_close = self._check_close()
        self.length = None
        length = self.headers.get("content-length")
        if length and not self.chunked:
            try:
                self.length = int(length)
            except ValueError:
                self.length = None
            else:
                if self.length < 0:
                    self.length = None
        if (
            status in (http.client.NO_CONTENT, http.client.NOT_MODIFIED)
            or 100 <= status < 200
            or self._method == "HEAD"
        ):
            self.length = 0
        if not self.will_close and not self.chunked and self.length is None:
            self.will_close = True


class _WireMixin:
    """A pooled connection that checks liveness cheaply and sends a request in one write.

    urllib3 sends the request head and a bytes body in two writes (two syscalls, two TCP
    segments); the head is held back here and leaves with the body.
    """

    _hold_head = False
    _held_head = b""

    @property
    def is_connected(self) -> bool:
        return _is_open(self.sock)  # type: ignore[attr-defined]

    def request(
        self, method: str, url: str, body: Any = None, headers: Any = None, **kw: Any
    ) -> None:
        self._hold_head = isinstance(body, bytes) and bool(body)
        try:
            super().request(method, url, body=body, headers=headers, **kw)  # type: ignore[misc]
        finally:
            self._hold_head = False
            self._held_head = b""

    def _send_output(self, message_body: Any = None, encode_chunked: bool = False) -> None:
        if not self._hold_head or message_body is not None:
            super()._send_output(message_body, encode_chunked=encode_chunked)  # type: ignore[misc]
            return
        buffer: list[bytes] = self._buffer  # type: ignore[attr-defined]
        buffer.extend((b"", b""))
        self._held_head = b"\r\n".join(buffer)
        del buffer[:]

    def send(self, data: Any) -> None:
        if self._held_head:
            data = self._held_head + bytes(data)
            self._held_head = b""
        super().send(data)  # type: ignore[misc]


class _HTTPConnection(_WireMixin, HTTPConnection):
    """urllib3's connection, with the cheaper liveness check, header parse and request write."""

    response_class = _HTTPResponse


class _HTTPSConnection(_WireMixin, HTTPSConnection):
    """urllib3's TLS connection, with the same changes."""

    response_class = _HTTPResponse


class _HTTPConnectionPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSConnectionPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


def make_pool(origin: str, sizing: PoolSizing = DEFAULT_SIZING) -> urllib3.HTTPConnectionPool:
    """The connection pool to one provider's `origin` (scheme://host:port).

    A per-host pool, not a PoolManager: the PoolManager's per-call URL parsing and pool lookup
    cost CPU on every request for nothing, since a provider lives on one host. Extra
    connections beyond `maxsize` are opened when needed and not kept.
    """
    url = urllib3.util.parse_url(origin)
    tls = url.scheme == "https"
    pool_class = _HTTPSConnectionPool if tls else _HTTPConnectionPool
    return pool_class(
        url.host or "",
        port=url.port or (443 if tls else 80),
        maxsize=sizing.maxsize,
        block=False,
        retries=False,
    )


class UpstreamReply:
    """An open upstream response: status, headers, and a body read whole or streamed."""

    __slots__ = ("_response", "_deadline", "status", "content_type", "retry_after")

    def __init__(self, response: urllib3.HTTPResponse, deadline: float = math.inf) -> None:
        self._response = response
        self._deadline = deadline  # time.monotonic() by which the whole call must be done
        self.status = response.status
        self.content_type = response.headers.get("content-type", "")
        self.retry_after = response.headers.get("retry-after")

    def read(self) -> bytes:
        """The whole body; the connection goes back to the pool."""
        try:
            return self._response.read()
        except ReadTimeoutError as exc:
            raise UpstreamTimeout("the provider stopped sending (timeout)") from exc
        except (ProtocolError, HTTPError, OSError) as exc:
            raise UpstreamUnavailable("the provider dropped the connection") from exc
        finally:
            self._response.release_conn()

    def iter_bytes(self) -> Iterator[bytes]:
        """Body bytes as they arrive (each chunk as soon as the provider flushes it).

        The read timeout bounds each wait; the deadline bounds the whole call, so a provider
        that trickles chunks cannot hold a stream open past the listener timeout.
        """
        for data in self._raw_chunks():
            yield data
            if time.monotonic() > self._deadline:
                raise UpstreamTimeout("the provider's stream outlasted the listener timeout")

    def _raw_chunks(self) -> Iterator[bytes]:
        response = self._response
        try:
            if response.chunked and response.supports_chunked_reads():
                yield from response.read_chunked(decode_content=False)
            else:
                while True:
                    data = response.read1(READ_SIZE, decode_content=False)
                    if not data:
                        break
                    yield data
        except ReadTimeoutError as exc:
            raise UpstreamTimeout("the provider stalled mid-stream (timeout)") from exc
        except (ProtocolError, HTTPError, OSError) as exc:
            raise UpstreamUnavailable("the provider dropped the connection mid-stream") from exc

    def close(self) -> None:
        """Give the connection back (or drop it when the body was not read to the end)."""
        response = self._response
        if response.isclosed():
            response.release_conn()
        else:
            response.close()
            response.release_conn()


def send(
    pool: urllib3.HTTPConnectionPool,
    path: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    read_timeout_s: float,
) -> UpstreamReply:
    """POST `body` to `path` on the pool's host; the open reply, or an UpstreamError."""
    deadline = time.monotonic() + read_timeout_s
    try:
        response = pool.urlopen(
            "POST",
            path,
            body=body,
            headers=dict(headers),
            timeout=urllib3.Timeout(
                connect=min(CONNECT_TIMEOUT_S, read_timeout_s), read=read_timeout_s
            ),
            preload_content=False,
            redirect=False,
            retries=False,
            assert_same_host=False,
        )
    except NewConnectionError as exc:  # first: urllib3 2 makes it a ConnectTimeoutError
        raise UpstreamUnavailable("the provider could not be reached") from exc
    except (ConnectTimeoutError, ReadTimeoutError) as exc:
        raise UpstreamTimeout("the provider did not answer in time") from exc
    except (ProtocolError, HTTPError, OSError) as exc:
        raise UpstreamUnavailable("the connection to the provider failed") from exc
    # urlopen is typed as returning the base class; with the standard (non-emscripten) backend
    # it is always an HTTPResponse, whose chunked reads and isclosed() the reply relies on.
    if not isinstance(response, urllib3.HTTPResponse):
        response.release_conn()
        raise UpstreamError(f"unsupported urllib3 response type {type(response).__name__}")
    return UpstreamReply(response, deadline)


def raise_for_status(reply: UpstreamReply) -> None:
    """Turn a non-2xx reply into the matching UpstreamError, with the body kept for the client."""
    status = reply.status
    if status < 300:
        return
    body = reply.read()
    if status < 400:  # redirects are not followed: the provider is misconfigured
        raise UpstreamError(f"the provider answered an unexpected HTTP {status}")
    if status == 429:
        raise UpstreamRateLimited(
            "the provider is rate limiting",
            retry_after=reply.retry_after,
            body=body,
            content_type=reply.content_type,
        )
    if status >= 500:
        raise UpstreamError(
            f"the provider failed with HTTP {status}",
            status=status,
            body=body,
            content_type=reply.content_type,
        )
    raise UpstreamRejected(
        f"the provider rejected the request with HTTP {status}",
        status=status,
        body=body,
        content_type=reply.content_type,
    )
