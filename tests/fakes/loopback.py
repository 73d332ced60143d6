"""The lifecycle every loopback fake shares: a threaded HTTP server on 127.0.0.1, port chosen by
the OS, served from a daemon thread.

A fake subclasses `LoopbackServer`, names its server and handler classes and adds its own state::

    class _Server(LoopbackHTTPServer["FakeThing"]): ...

    class FakeThing(LoopbackServer):
        server_class = _Server
        handler_class = _Handler

Handlers reach the fake as `self.server.fake`; waits on `fake._closing` end when the fake closes.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Generic, Self, TypeVar

HOST = "127.0.0.1"

FakeT = TypeVar("FakeT", bound="LoopbackServer")


class LoopbackHTTPServer(ThreadingHTTPServer, Generic[FakeT]):
    """A ThreadingHTTPServer whose handler threads are daemons and which knows its fake."""

    daemon_threads = True
    fake: FakeT


class LoopbackServer:
    """Start, close and address a loopback HTTP server; a context manager that starts it."""

    server_class: ClassVar[type[LoopbackHTTPServer[Any]]]
    handler_class: ClassVar[type[BaseHTTPRequestHandler]]

    def __init__(self) -> None:
        self._closing = threading.Event()
        self._server: LoopbackHTTPServer[Any] | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        """Bind and serve in a background thread; returns self."""
        server = self.server_class((HOST, 0), self.handler_class)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, cut pending waits on `_closing` short and release the port."""
        self._closing.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self._after_server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def _after_server_close(self) -> None:
        """Hook run once the server stopped accepting, before the serving thread is joined."""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def port(self) -> int:
        """The bound port."""
        assert self._server is not None, f"{type(self).__name__} is not started"
        return int(self._server.server_address[1])

    @property
    def origin(self) -> str:
        """`http://127.0.0.1:<port>`, no path."""
        return f"http://{HOST}:{self.port}"
