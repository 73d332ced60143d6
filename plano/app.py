"""create_app(settings) -> Flask: build the parts, register the blueprints. No logic here."""

from __future__ import annotations

import time
from pathlib import Path

from flask import Flask, Response, g, request

from plano.api.calls import request_id_of
from plano.api.errors import register_error_handlers
from plano.api.health import health_bp
from plano.api.metrics import metrics_bp
from plano.api.models import models_bp
from plano.api.proxy import ProxyEndpoints
from plano.api.routing import routing_bp
from plano.config.model import Settings
from plano.wiring import AppParts, build_parts

# Flask endpoint -> handler label in metrics (the proxy endpoints count themselves).
HANDLERS = {
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
    for blueprint in (routing_bp, models_bp, health_bp, metrics_bp):
        app.register_blueprint(blueprint)

    @app.before_request
    def _start() -> None:
        g.request_id = request_id_of(request.environ)
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers.setdefault("x-request-id", getattr(g, "request_id", ""))
        handler = HANDLERS.get(request.endpoint or "", "other")
        plano.metrics.observe_http(handler, response.status_code)
        return response

    # Flask's documented place for WSGI middleware: the proxy endpoints skip Flask's dispatch.
    proxy = ProxyEndpoints(app.wsgi_app, plano.gateway, plano.metrics, plano.settings)
    app.wsgi_app = proxy  # type: ignore[method-assign]
    return app
