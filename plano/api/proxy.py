"""POST /v1/chat/completions and POST /v1/messages: the proxied calls, served in front of Flask.

`ProxyEndpoints` wraps the Flask app's `wsgi_app`, Flask's documented place for WSGI
middleware. It serves these two paths itself and hands every other one to Flask. The proxy's
hot path needs none of Flask's per-request machinery: app and request contexts, URL matching,
signals, a Response object. That machinery cost 150 µs a call on a warm CPU and 0.3-0.4 ms at
concurrency 1 in bench_proxy, about as much as all of plano's own work. The two endpoints answer
as any Flask view would, errors included: 405 with Allow, 413, 400 in the caller's dialect.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from werkzeug.http import HTTP_STATUS_CODES

from plano.api.calls import IncomingCall, read_call, request_id_of
from plano.api.errors import error_json, unexpected_error
from plano.config.model import Settings
from plano.errors import MethodNotAllowed, PlanoError
from plano.gateway import JSON, Gateway, Reply, RequestContext
from plano.observability.metrics import Metrics
from plano.routing.call import Dialect

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

# path -> (the caller's dialect, the endpoint's name in metrics and the request log)
ENDPOINTS = {
    "/v1/chat/completions": (Dialect.OPENAI, "chat_completions"),
    "/v1/messages": (Dialect.ANTHROPIC, "messages"),
}


class ProxyEndpoints:
    """WSGI middleware: the two proxy endpoints here, every other path to the Flask app."""

    def __init__(
        self, flask_app: WSGIApplication, gateway: Gateway, metrics: Metrics, settings: Settings
    ) -> None:
        self._flask_app = flask_app
        self._gateway = gateway
        self._metrics = metrics
        self._settings = settings

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Serve one request (PEP 3333)."""
        endpoint = ENDPOINTS.get(environ.get("PATH_INFO", ""))
        if endpoint is None:
            return self._flask_app(environ, start_response)
        dialect, name = endpoint
        started = time.perf_counter()
        request_id = request_id_of(environ)
        method = environ["REQUEST_METHOD"]
        if method != "POST":
            message = f"Method {method} is not allowed on {environ['PATH_INFO']}"
            body = self._refuse(
                MethodNotAllowed(message), dialect, name, request_id, start_response
            )
            return () if method == "HEAD" else body  # the server does not strip a HEAD's body
        incoming: IncomingCall | None = None
        try:
            incoming = read_call(environ, dialect, name, self._settings, request_id, started)
            reply = self._gateway.proxy(incoming.call, incoming.body, incoming.context)
        except Exception as exc:  # noqa: BLE001 - any bug becomes a 500 in the caller's dialect
            error = exc if isinstance(exc, PlanoError) else unexpected_error(request_id)
            # A refused call's request-log line; its context is made here only if it has none.
            call = incoming.call if incoming else None
            context = (
                incoming.context if incoming else RequestContext(request_id, name, {}, started)
            )
            self._gateway.log_refused(dialect, call, context, error)
            return self._refuse(error, dialect, name, request_id, start_response)
        self._metrics.observe_http(name, reply.status)
        return _start(reply, start_response)

    def _refuse(
        self,
        error: PlanoError,
        dialect: Dialect,
        name: str,
        request_id: str,
        start_response: StartResponse,
    ) -> Iterable[bytes]:
        body = error_json(dialect, error)
        headers = [
            ("Content-Type", JSON),
            ("Content-Length", str(len(body))),
            ("x-request-id", request_id),
        ]
        if isinstance(error, MethodNotAllowed):
            headers.append(("Allow", "POST"))
        self._metrics.observe_http(name, error.status)
        start_response(_status_line(error.status), headers)
        return (body,)


def _start(reply: Reply, start_response: StartResponse) -> Iterable[bytes]:
    headers = [("Content-Type", reply.content_type), *reply.headers.items()]
    if reply.stream is not None:
        start_response(_status_line(reply.status), headers)
        return reply.stream  # a generator: the server's close() ends the upstream call
    headers.append(("Content-Length", str(len(reply.body))))
    start_response(_status_line(reply.status), headers)
    if reply.after_sent is None:
        return (reply.body,)
    return _BodyThen(reply.body, reply.after_sent)


def _status_line(status: int) -> str:
    return f"{status} {HTTP_STATUS_CODES.get(status, 'UNKNOWN')}"


class _BodyThen:
    """A whole body, then `after_sent` once the server has sent it and closes the response."""

    __slots__ = ("_body", "close")

    def __init__(self, body: bytes, after_sent: Callable[[], None]) -> None:
        self._body = body
        self.close = after_sent  # PEP 3333: the server calls close() when the response is done

    def __iter__(self) -> Iterator[bytes]:
        return iter((self._body,))
