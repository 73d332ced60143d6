"""The stack's floor for bench_proxy: a bare Flask view that forwards the body with urllib3.

Same server (gunicorn, one gevent worker), same client library and pool as plano, none of
plano's work (parsing, routing, translation, metrics, request log). What plano costs is its
figure minus this one, measured in the same run. Not used by plano.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import urllib3
from flask import Flask, Response, request

app = Flask(__name__)
_pool = urllib3.connection_from_url(os.environ["FLOOR_UPSTREAM"], maxsize=64, block=False)


@app.get("/healthz")
def healthz() -> Response:
    """What the test runner waits for."""
    return Response(b'{"status":"ok"}', content_type="application/json")


@app.post("/v1/chat/completions")
def forward() -> Response:
    """POST the body upstream; relay the reply whole or chunk by chunk."""
    body = request.get_data()
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
    if not content_type.startswith("text/event-stream"):
        data = reply.read()
        reply.release_conn()
        return Response(data, status=reply.status, content_type=content_type)

    def relay() -> Iterator[bytes]:
        try:
            yield from reply.read_chunked(decode_content=False)
        finally:
            reply.release_conn()

    return Response(relay(), content_type=content_type, direct_passthrough=True)
