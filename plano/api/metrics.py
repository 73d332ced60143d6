"""GET /metrics: the Prometheus exposition, all gunicorn workers aggregated (SPEC §2, §8)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app

metrics_bp = Blueprint("metrics", __name__)


@metrics_bp.get("/metrics")
def metrics() -> Response:
    """Every worker's metrics in the Prometheus text format."""
    body, content_type = current_app.extensions["plano"].metrics.render()
    return Response(body, status=200, content_type=content_type)
