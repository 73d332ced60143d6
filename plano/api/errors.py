"""One error handler for the whole app: every error in the caller's dialect, never a traceback."""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, g, request
from werkzeug.exceptions import HTTPException

from plano.errors import MethodNotAllowed, NotFound, PayloadTooLarge, PlanoError
from plano.gateway import JSON, RequestContext
from plano.routing.call import Dialect
from plano.translation.errors import error_body

logger = logging.getLogger(__name__)


def dialect_of_path(path: str) -> Dialect:
    """Anthropic for the Messages paths, OpenAI everywhere else."""
    return Dialect.ANTHROPIC if path.endswith("/messages") else Dialect.OPENAI


# The Flask endpoints that take a call, and their request-log `endpoint` names (the proxy
# endpoints are served in front of Flask: plano.api.proxy).
CALL_ENDPOINTS = {
    "routing.decide_chat_completions": "routing",
    "routing.decide_messages": "routing",
}


def error_json(dialect: Dialect, error: PlanoError) -> bytes:
    """`error` as the JSON error body of `dialect`."""
    type_ = error.openai_type if dialect is Dialect.OPENAI else error.anthropic_type
    return error_body(
        dialect, error.status, error.message, code=error.code, type_=type_, param=error.param
    )


def render_error(error: PlanoError) -> Response:
    """`error` as a JSON response in the dialect of the current path.

    A call refused before any provider answered (bad body, unknown model, body too large, an
    internal error) gets its request-log line here: the gateway logs only the calls it forwards.
    """
    dialect = dialect_of_path(request.path)
    endpoint = CALL_ENDPOINTS.get(request.endpoint or "")
    if endpoint is not None and "started" in g:
        context = RequestContext(g.request_id, endpoint, {}, g.started)
        gateway = current_app.extensions["plano"].gateway
        gateway.log_refused(dialect, g.get("call"), context, error)
    return Response(error_json(dialect, error), status=error.status, content_type=JSON)


def _http_error(exc: HTTPException) -> Response:
    code = exc.code or 500
    if code == 404:
        return render_error(NotFound(f"No route for {request.method} {request.path}"))
    if code == 405:
        response = render_error(
            MethodNotAllowed(f"Method {request.method} is not allowed on {request.path}")
        )
        valid = getattr(exc, "valid_methods", None)
        if valid:
            response.headers["Allow"] = ", ".join(valid)
        return response
    if code == 413:
        return render_error(PayloadTooLarge("The request body is too large"))
    error = PlanoError(exc.description or "HTTP error")
    error.status = code
    error.code = "http_error"
    error.openai_type = "invalid_request_error" if code < 500 else "server_error"
    error.anthropic_type = "invalid_request_error" if code < 500 else "api_error"
    return render_error(error)


def unexpected_error(request_id: str) -> PlanoError:
    """Log the exception being handled, once with its traceback; the 500 to answer for it."""
    logger.exception("unexpected error in request %s", request_id)
    return PlanoError(f"Internal error (request id {request_id})")


def _unexpected(exc: Exception) -> Response:
    return render_error(unexpected_error(getattr(g, "request_id", "-")))


def register_error_handlers(app: Flask) -> None:
    """Install the handlers on `app`."""
    app.register_error_handler(PlanoError, render_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
