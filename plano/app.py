"""create_app(settings) -> Flask: build the parts, register the blueprints. No logic here."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, Response, g, request

from plano.api.calls import assign_request_id
from plano.api.errors import register_error_handlers
from plano.api.health import health_bp
from plano.api.metrics import metrics_bp
from plano.api.models import models_bp
from plano.api.proxy import proxy_bp
from plano.api.routing import routing_bp
from plano.config.model import Settings
from plano.wiring import AppParts, build_parts

HANDLERS = {
    "proxy.chat_completions": "chat_completions",
    "proxy.messages": "messages",
    "routing.decide_chat_completions": "routing",
    "routing.decide_messages": "routing",
    "models.list_models": "models",
    "health.healthz": "health",
    "health.readyz": "health",
    "metrics.metrics": "metrics",
}


def create_app(
    settings: Settings,
    parts: AppParts | None = None,
    *,
    embedded_model_dir: Path | None = None,
) -> Flask:
    """The WSGI app for `settings`; `parts` lets tests inject their own."""
    app = Flask("plano")
    app.config["MAX_CONTENT_LENGTH"] = settings.observability.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    plano = parts or build_parts(settings, embedded_model_dir=embedded_model_dir)
    app.extensions["plano"] = plano
    register_error_handlers(app)
    for blueprint in (proxy_bp, routing_bp, models_bp, health_bp, metrics_bp):
        app.register_blueprint(blueprint)
    app.before_request(assign_request_id)

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers.setdefault("x-request-id", getattr(g, "request_id", ""))
        handler = HANDLERS.get(request.endpoint or "", "other")
        plano.metrics.observe_http(handler, response.status_code)
        return response

    return app
