"""Turning a WSGI request into a typed call: request id, body, routes override, affinity, context.

Everything here reads the WSGI environ, not Flask's request object: the proxy endpoints are
served in front of Flask's dispatch (plano.api.proxy), the decision endpoints through it, and
both share these functions.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from plano.config.model import Settings
from plano.config.request_routes import parse_request_routes
from plano.errors import InvalidRequest, PayloadTooLarge
from plano.gateway import RequestContext
from plano.providers.upstream import CLIENT_HEADERS_READ
from plano.routing.affinity import validate_affinity_id
from plano.routing.call import ChatCall, Dialect
from plano.translation.inbound import call_from_anthropic, call_from_openai


def _environ_key(header: str) -> str:
    """Where a WSGI server puts request header `header` (PEP 3333)."""
    key = header.upper().replace("-", "_")
    return key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key


# Headers are read straight from the WSGI environ: Werkzeug's header view costs a few µs per
# lookup and walks the whole environ to list them, on every call.
_AFFINITY_KEY = "HTTP_X_MODEL_AFFINITY"
_REQUEST_ID_KEY = "HTTP_X_REQUEST_ID"
_CLIENT_HEADER_KEYS = tuple((name, _environ_key(name)) for name in CLIENT_HEADERS_READ)
MAX_REQUEST_ID = 128
# `\ud800`-`\udfff` escapes: json.loads accepts a lone one, but the body could not be re-encoded
# as UTF-8 for the provider. Scanning the raw bytes keeps the full check off the common path.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")

#: The WSGI environ, as servers hand it over.
Environ = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class IncomingCall:
    """A parsed request: the typed call, the body to forward, and the context."""

    call: ChatCall
    body: dict[str, object]
    context: RequestContext


def request_id_of(environ: Environ) -> str:
    """The client's (or nginx's) request id when sane, else a new one."""
    given = environ.get(_REQUEST_ID_KEY, "")
    if 0 < len(given) <= MAX_REQUEST_ID and given.isascii() and given.isprintable():
        return str(given)
    # Unique, not secret: the random module (reseeded in each forked worker) instead of
    # uuid4, whose getrandom syscall cost about 10 µs per call.
    return f"{random.getrandbits(128):032x}"


def read_body(environ: Environ, max_body_bytes: int) -> bytes:
    """The request body; PayloadTooLarge past `max_body_bytes`, InvalidRequest if cut short.

    A body with a Content-Length over the limit is refused before it is read. One sent with
    `Transfer-Encoding: chunked` (the server de-chunks it and marks the stream terminated) is
    read up to the limit and one byte more, to tell "at the limit" from "over it".
    """
    stream = environ["wsgi.input"]
    length_text = environ.get("CONTENT_LENGTH")
    if length_text:
        try:
            length = int(length_text)
        except ValueError as exc:
            raise InvalidRequest("The Content-Length header is not a number") from exc
        if length > max_body_bytes:
            raise PayloadTooLarge("The request body is too large")
        raw: bytes = stream.read(length) if length > 0 else b""
        if len(raw) < length:
            raise InvalidRequest("The request body ended before its Content-Length")
        return raw
    if not environ.get("wsgi.input_terminated"):
        return b""  # no length and no chunked framing: no body (as Werkzeug reads it)
    raw = stream.read(max_body_bytes + 1)
    if len(raw) > max_body_bytes:
        raise PayloadTooLarge("The request body is too large")
    return raw


def read_call(
    environ: Environ,
    dialect: Dialect,
    endpoint: str,
    settings: Settings,
    request_id: str,
    started: float,
) -> IncomingCall:
    """Parse the request as a call in `dialect`; InvalidRequest on anything malformed."""
    raw = read_body(environ, settings.observability.max_body_bytes)
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
    routes = parse_request_routes(routes_raw, settings) if has_routes else None
    affinity_id = validate_affinity_id(environ.get(_AFFINITY_KEY))
    tenant_header = settings.routing.session_cache.tenant_header
    tenant = environ.get(_environ_key(tenant_header)) if tenant_header else None
    call = replace(call, routes=routes, affinity_id=affinity_id, tenant=tenant or None)
    headers = {name: environ[key] for name, key in _CLIENT_HEADER_KEYS if key in environ}
    context = RequestContext(request_id, endpoint, headers, started)
    return IncomingCall(call, body, context)


def _has_lone_surrogate(body: dict[str, object]) -> bool:
    try:
        json.dumps(body, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return True
    return False
