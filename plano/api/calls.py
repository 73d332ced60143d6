"""Turning an HTTP request into a typed call: body, routes override, affinity, context."""

from __future__ import annotations

import json
import random
import re
import time
from dataclasses import dataclass, replace

from flask import current_app, g, request

from plano.config.request_routes import parse_request_routes
from plano.errors import InvalidRequest, PayloadTooLarge
from plano.gateway import RequestContext
from plano.providers.upstream import CLIENT_HEADERS_READ
from plano.routing.affinity import validate_affinity_id
from plano.routing.call import ChatCall, Dialect
from plano.translation.inbound import call_from_anthropic, call_from_openai

# Headers are read straight from the WSGI environ: Werkzeug's header view costs a few µs per
# lookup and walks the whole environ to list them, on every call.
_AFFINITY_KEY = "HTTP_X_MODEL_AFFINITY"
_REQUEST_ID_KEY = "HTTP_X_REQUEST_ID"
_CLIENT_HEADER_KEYS = tuple(
    (name, "HTTP_" + name.upper().replace("-", "_")) for name in CLIENT_HEADERS_READ
)
MAX_REQUEST_ID = 128
# `\ud800`-`\udfff` escapes: json.loads accepts a lone one, but the body could not be re-encoded
# as UTF-8 for the provider. Scanning the raw bytes keeps the full check off the common path.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


@dataclass(frozen=True, slots=True)
class IncomingCall:
    """A parsed request: the typed call, the body to forward, and the context."""

    call: ChatCall
    body: dict[str, object]
    context: RequestContext


def assign_request_id() -> None:
    """Keep the client's (or nginx's) request id when sane, else make one."""
    given = request.environ.get(_REQUEST_ID_KEY, "")
    if 0 < len(given) <= MAX_REQUEST_ID and given.isascii() and given.isprintable():
        g.request_id = given
    else:
        # Unique, not secret: the random module (reseeded in each forked worker) instead of
        # uuid4, whose getrandom syscall cost about 10 µs per call.
        g.request_id = f"{random.getrandbits(128):032x}"
    g.started = time.perf_counter()


def read_call(dialect: Dialect, endpoint: str) -> IncomingCall:
    """Parse the current request as a call in `dialect`; InvalidRequest on anything malformed."""
    plano = current_app.extensions["plano"]
    raw = request.get_data(cache=False)
    _refuse_truncated_body(raw, plano.settings.observability.max_body_bytes)
    try:
        # Strict UTF-8 first: json.loads(bytes) would let UTF-8-encoded surrogates through.
        body = json.loads(raw.decode("utf-8"))
    except ValueError as exc:
        raise InvalidRequest("The request body is not valid JSON in UTF-8") from exc
    except RecursionError as exc:
        raise InvalidRequest("The request body is nested too deeply") from exc
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object")
    if _SURROGATE_ESCAPE.search(raw) and _has_lone_surrogate(body):
        raise InvalidRequest("The request body holds a lone UTF-16 surrogate (invalid Unicode)")
    routes_raw = body.pop("routing_preferences", None)
    has_routes = routes_raw is not None
    call = call_from_openai(body) if dialect is Dialect.OPENAI else call_from_anthropic(body)
    routes = parse_request_routes(routes_raw, plano.settings) if has_routes else None
    environ = request.environ
    affinity_id = validate_affinity_id(environ.get(_AFFINITY_KEY))
    tenant_header = plano.settings.routing.session_cache.tenant_header
    tenant = request.headers.get(tenant_header) if tenant_header else None
    call = replace(call, routes=routes, affinity_id=affinity_id, tenant=tenant or None)
    g.call = call  # for the request-log line of a call refused later (plano.api.errors)
    headers = {name: environ[key] for name, key in _CLIENT_HEADER_KEYS if key in environ}
    context = RequestContext(g.request_id, endpoint, headers, g.started)
    return IncomingCall(call, body, context)


def _refuse_truncated_body(raw: bytes, max_body_bytes: int) -> None:
    """413 for a chunked body past the limit: Werkzeug cuts it at the limit without a word.

    A body with Content-Length over the limit is refused by Werkzeug before it is read; one
    sent with `Transfer-Encoding: chunked` is read up to the limit only, so look for one more
    byte on the server's (length-terminated) input stream.
    """
    # Length first: asking Werkzeug for Content-Length costs more than the rest of this check.
    if len(raw) >= max_body_bytes and request.content_length is None:
        if request.environ["wsgi.input"].read(1):
            raise PayloadTooLarge("The request body is too large")


def _has_lone_surrogate(body: dict[str, object]) -> bool:
    try:
        json.dumps(body, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return True
    return False
