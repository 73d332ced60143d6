"""The HTTP boundary to providers: one urllib3 pool per provider per worker, errors mapped.

The hot path uses urllib3 directly (requests' own transport) because a `requests.Session`
round trip costs about 0.8 ms more CPU per call (issue 3 measurements).
"""

from __future__ import annotations

import logging
import math
import select
import socket
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

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


class _HTTPConnection(HTTPConnection):
    """urllib3's connection, with a cheaper check before a pooled connection is reused."""

    @property
    def is_connected(self) -> bool:
        return _is_open(self.sock)


class _HTTPSConnection(HTTPSConnection):
    """urllib3's TLS connection, with a cheaper check before a pooled connection is reused."""

    @property
    def is_connected(self) -> bool:
        return _is_open(self.sock)


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
