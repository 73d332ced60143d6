"""GET /healthz (liveness) and GET /readyz (readiness with reasons)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

health_bp = Blueprint("health", __name__)


@health_bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """The process is alive."""
    return jsonify({"status": "ok"})


@health_bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """200 when the config is loaded and the parts are up; degraded parts are named."""
    report = current_app.extensions["plano"].readiness()
    status = 200 if report["ready"] else 503
    return jsonify(report), status
