"""The stack's floors for bench_proxy: forward the body with urllib3, and nothing else.

Two of them, under the same server as plano (gunicorn, one worker of the same class), with the
same client library and pool, and none of plano's work (parsing, routing, translation, metrics,
request log):
- `app`: a bare Flask view, the floor of a Flask gateway;
- `wsgi_app`: a bare WSGI callable, the floor of plano's proxy endpoints, which are served in
  front of Flask's dispatch (plano.api.proxy). What plano's own work costs is plano's figure
  minus this one, measured in the same run.
Not used by plano.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator

import urllib3
from flask import Flask, Response, request

app = Flask(__name__)
_pool = urllib3.connection_from_url(os.environ["FLOOR_UPSTREAM"], maxsize=64, block=False)


@app.get("/healthz")
def healthz() -> Response:
    """What the test runner waits for."""
    return Response(b'{"status":"ok"}', content_type="application/json")


def _send_upstream(body: bytes) -> tuple[urllib3.BaseHTTPResponse, str, bytes | None]:
    """POST `body` upstream: the reply, its content type, and its body unless it streams."""
    reply = _pool.urlopen(
        "POST",
        "/v1/chat/completions",
        body=body,
        headers={"content-type": "application/json"},
        preload_content=False,
        retries=False,
        timeout=30.0,
    )
    content_type = reply.headers.get("content-type", "application/json")
    if content_type.startswith("text/event-stream"):
        return reply, content_type, None
    data = reply.read()
    reply.release_conn()
    return reply, content_type, data


def _relay(reply: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
    try:
        yield from reply.read_chunked(decode_content=False)
    finally:
        reply.release_conn()


@app.post("/v1/chat/completions")
def forward() -> Response:
    """POST the body upstream; relay the reply whole or chunk by chunk."""
    reply, content_type, data = _send_upstream(request.get_data())
    if data is not None:
        return Response(data, status=reply.status, content_type=content_type)
    return Response(_relay(reply), content_type=content_type, direct_passthrough=True)


def wsgi_app(
    environ: dict[str, object], start_response: Callable[[str, list[tuple[str, str]]], object]
) -> Iterable[bytes]:
    """The same forwarding as `forward`, as a bare WSGI callable (no Flask)."""
    if environ["PATH_INFO"] == "/healthz":
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"status":"ok"}']
    length = int(str(environ.get("CONTENT_LENGTH") or 0))
    body = environ["wsgi.input"].read(length)  # type: ignore[attr-defined]
    reply, content_type, data = _send_upstream(body)
    if data is not None:
        start_response(
            f"{reply.status} OK",
            [("Content-Type", content_type), ("Content-Length", str(len(data)))],
        )
        return [data]
    start_response(f"{reply.status} OK", [("Content-Type", content_type)])
    return _relay(reply)
