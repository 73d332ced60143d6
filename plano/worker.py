"""The gunicorn worker class conf/gunicorn.conf.py ships: gevent's pywsgi, held to gunicorn's rules.

gunicorn has two gevent workers. `-k gevent` parses HTTP with gunicorn's own pure-Python parser;
`-k gevent_pywsgi` hands each connection to gevent's `pywsgi` server, which costs less CPU per
call under the same Flask app (README, Performance), so the shipped configuration runs it.
Plain `-k gevent` (SPEC §2) keeps working unchanged; the proxy's tests run under both.

pywsgi is more lenient than gunicorn where a gateway must not be, and slower at two steps; the
handler here changes three things:
- The request's header block is parsed by plano.request_head: strictly (a malformed line or
  ambiguous body framing, the request-smuggling shapes, get 400 and a closed connection, as
  under gunicorn) and without the email package's MIME parser.
- Idle connections. pywsgi waits forever for the next request on a keep-alive connection, and
  each waiting connection holds one of the worker's `worker_connections` slots. The handler
  drops a connection that sends no request line for `keepalive` seconds, as gunicorn's own
  gevent worker does (`keepalive = 0`: one request per connection).
- Writes: one plain `send` per reply or stream event instead of gevent's `sendall`, which
  makes a getsockopt system call before every write; and no access-log record when no access
  log is configured (the default: plano writes its own request log).
"""

from __future__ import annotations

from typing import Any

import gevent
from gevent.pywsgi import OldMessage
from gunicorn.workers.ggevent import GeventPyWSGIWorker, PyWSGIHandler

from plano.request_head import read_header_block


class StrictHandler(PyWSGIHandler):  # type: ignore[misc]
    """gunicorn's pywsgi handler: strict header parsing, an idle limit, a lazy access log."""

    #: Seconds a connection may wait for its next request line (gunicorn's `keepalive`); set
    #: per worker. 0: no keep-alive, and no limit on the one request line.
    keepalive_s: float = 2.0
    access_log_enabled: bool = False
    code: int  # pywsgi's: the response status code (annotated for the type checker only)

    def read_requestline(self) -> str:
        """The next request line, or "" (close the connection) after `keepalive_s` of silence."""
        if self.keepalive_s <= 0:
            return str(super().read_requestline())
        line = ""
        with gevent.Timeout(self.keepalive_s, False):
            line = str(super().read_requestline())
        return line

    def MessageClass(self, rfile: Any, *_args: Any) -> Any:  # noqa: N802 (pywsgi's name)
        """The header block, parsed strictly; a ValueError (400, connection closed) otherwise."""
        return read_header_block(rfile, self.request_version, OldMessage)

    def read_request(self, raw_requestline: str) -> bool:
        """pywsgi's parse; with `keepalive_s` 0 the connection closes after this request."""
        parsed = bool(super().read_request(raw_requestline))
        if self.keepalive_s <= 0:
            self.close_connection = True
        return parsed

    def _sendall(self, data: bytes) -> None:
        """pywsgi's write: one plain send first, the rest (if any) through gevent's sendall.

        gevent's sendall asks the kernel for the socket's send-buffer size (a getsockopt
        call) before every write, and a stream writes once per event. A reply or event that
        fits the socket buffer, nearly all of them, now costs one send; a larger one finishes
        through sendall, which waits for the socket as before.
        """
        sock = self.socket
        try:
            sent = sock.send(data)
            if sent < len(data):
                sock.sendall(memoryview(data)[sent:])
        except OSError as exc:  # as pywsgi's own: the status line of the access log says why
            self.status = f"socket error: {exc}"
            if self.code > 0:
                self.code = -self.code
            raise
        self.response_length += len(data)

    def log_request(self) -> None:
        """Write the access-log line, only when an access log is configured."""
        if self.access_log_enabled:
            super().log_request()


class PlanoWorker(GeventPyWSGIWorker):  # type: ignore[misc]
    """gunicorn's gevent pywsgi worker with StrictHandler, sized by this worker's settings."""

    def init_process(self) -> None:
        """Give the handler this worker's keep-alive limit and access-log switch, then run."""
        self.wsgi_handler = type(
            "StrictHandler",
            (StrictHandler,),
            {
                "keepalive_s": float(self.cfg.keepalive),
                "access_log_enabled": bool(self.log.access_log_enabled),
            },
        )
        super().init_process()
