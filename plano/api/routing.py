"""POST /routing/v1/chat/completions and /routing/v1/messages: the decision only (SPEC §2)."""

from __future__ import annotations

import re
import uuid

from flask import Blueprint, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue

from plano.api.calls import read_call
from plano.routing.call import Dialect

routing_bp = Blueprint("routing", __name__)

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")


def trace_id_of(traceparent: str | None) -> str:
    """The W3C trace id from `traceparent`, else a new random one (32 hex)."""
    if traceparent:
        match = _TRACEPARENT.match(traceparent.strip().lower())
        if match and match.group(1) != "0" * 32:
            return match.group(1)
    return uuid.uuid4().hex


def _decide(dialect: Dialect, endpoint: str) -> ResponseReturnValue:
    plano = current_app.extensions["plano"]
    incoming = read_call(
        request.environ, dialect, endpoint, plano.settings, g.request_id, g.started
    )
    g.call = incoming.call  # for the request-log line of a call refused later (plano.api.errors)
    gateway = plano.gateway
    outcome = gateway.decide(incoming.call, incoming.context, decision_only=True)
    decision = outcome.decision
    reply: dict[str, object] = {
        "models": list(decision.candidates),
        "route": decision.route,
        "trace_id": trace_id_of(request.headers.get("traceparent")),
    }
    if outcome.session_id is not None:
        reply["session_id"] = outcome.session_id
        reply["pinned"] = decision.pinned
    gateway.log_decision(incoming.call, outcome, incoming.context)
    response = jsonify(reply)
    if outcome.router_error:
        response.headers["x-plano-route-error"] = outcome.router_error[:200]
    return response


@routing_bp.post("/routing/v1/chat/completions")
def decide_chat_completions() -> ResponseReturnValue:
    """The decision for an OpenAI-shaped body."""
    return _decide(Dialect.OPENAI, "routing")


@routing_bp.post("/routing/v1/messages")
def decide_messages() -> ResponseReturnValue:
    """The decision for an Anthropic-shaped body."""
    return _decide(Dialect.ANTHROPIC, "routing")
